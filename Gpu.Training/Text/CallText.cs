using System.Globalization;

namespace Gpu.Training;

/// <summary>
/// One item of the small call grammar the command line uses for layers (<c>conv(16,3,padding=1)</c>),
/// learning-rate schedules (<c>cosine(warmup=100)</c>) and the like: a lower-case word, then optional
/// arguments in parentheses, positional ones first, then name=value ones. <see cref="Split"/> cuts a
/// comma-separated list into items at the commas outside parentheses; each item keeps where it starts
/// in the text, so errors can point at it.
/// </summary>
public sealed record CallText(string Word, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> NamedArguments, int Start, string Text)
{
    /// <summary>The raw text between the parentheses (empty without them): a block's own list of layers.</summary>
    public string Inside { get; init; } = "";

    /// <summary>The items of a comma-separated list, e.g. the layers of a model; none for an empty text. <paramref name="noun"/> names an item in errors.</summary>
    public static List<CallText> Split(string text, string noun = "item")
    {
        ArgumentNullException.ThrowIfNull(text);
        var items = new List<CallText>();
        int depth = 0, start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            char c = i < text.Length ? text[i] : ',';
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            if (depth < 0)
                throw new FormatException($"unbalanced ')' at character {i + 1} of \"{text}\".");
            if (c == ',' && depth == 0)
            {
                items.Add(Read(text, start, i, noun));
                start = i + 1;
            }
        }

        if (depth != 0)
            throw new FormatException($"unbalanced '(' in \"{text}\".");
        if (items.Count == 1 && items[0].Word.Length == 0)
            return [];
        return items;
    }

    /// <summary>A text that holds exactly one item, e.g. a schedule.</summary>
    public static CallText ParseOne(string text, string noun = "item")
    {
        var items = Split(text, noun);
        return items.Count == 1 ? items[0] : throw new FormatException($"expected one word with optional arguments, e.g. cosine(warmup=100), got \"{text}\".");
    }

    /// <summary>Where the item is, for errors: <c>'conv(16)' at character 7 of "..."</c>.</summary>
    public string Describe(string text) => $"'{Text}' at character {Start} of \"{text}\"";

    /// <summary>Requires exactly <paramref name="positional"/> positional arguments and only the given names.</summary>
    public void Expect(int positional, params string[] names) => Expect(positional, positional, names);

    /// <summary>Requires between <paramref name="min"/> and <paramref name="max"/> positional arguments and only the given names.</summary>
    public void Expect(int min, int max, params string[] names)
    {
        if (Arguments.Count < min || Arguments.Count > max)
        {
            string count = min == max ? $"{min}" : $"{min} to {max}";
            throw new FormatException($"{Word} takes {count} positional argument{(min == 1 && max == 1 ? "" : "s")}, got {Arguments.Count}");
        }

        foreach (var key in NamedArguments.Keys)
        {
            if (!names.Contains(key))
                throw new FormatException($"{Word} has no argument '{key}'{(names.Length > 0 ? $" (it takes {string.Join(", ", names)})" : "")}");
        }
    }

    /// <summary>Positional argument <paramref name="index"/> as a whole number of at least <paramref name="min"/>.</summary>
    public int Int(int index, string what, int min = 1) => ParseInt(Arguments[index], what, min);

    /// <summary>Positional argument <paramref name="index"/> as a finite number.</summary>
    public double Number(int index, string what) => ParseNumber(Arguments[index], what);

    /// <summary>A name=value argument as a whole number, or <paramref name="fallback"/> when absent.</summary>
    public int Named(string name, int fallback, int min = 1) =>
        NamedArguments.TryGetValue(name, out var text) ? ParseInt(text, name, min) : fallback;

    /// <summary>A name=value argument as a finite number, or <paramref name="fallback"/> when absent.</summary>
    public double NamedNumber(string name, double fallback) =>
        NamedArguments.TryGetValue(name, out var text) ? ParseNumber(text, name) : fallback;

    /// <summary>A name=value argument as true or false, or <paramref name="fallback"/> when absent.</summary>
    public bool NamedFlag(string name, bool fallback) =>
        !NamedArguments.TryGetValue(name, out var text) ? fallback
        : bool.TryParse(text, out bool value) ? value
        : throw new FormatException($"{name} '{text}' is not true or false");

    private static CallText Read(string text, int start, int end, string noun)
    {
        string raw = text[start..end];
        string trimmed = raw.Trim();
        int at = start + raw.IndexOf(trimmed, StringComparison.Ordinal) + 1;
        int open = trimmed.IndexOf('(');
        string word = (open < 0 ? trimmed : trimmed[..open]).Trim().ToLowerInvariant();
        var positional = new List<string>();
        var named = new Dictionary<string, string>();
        var item = new CallText(word, positional, named, at, trimmed);
        if (word.Length == 0)
        {
            if (text.Trim().Length == 0)
                return item; // the whole text is empty: Split returns no item
            throw new FormatException($"{noun} {item.Describe(text)}: a {noun} is missing (two commas in a row, or one at an end)");
        }

        if (open < 0)
            return item;
        if (!trimmed.EndsWith(')'))
            throw new FormatException($"{noun} {item.Describe(text)}: text after ')'");
        string inside = trimmed[(open + 1)..^1];
        item = item with { Inside = inside };
        if (inside.Trim().Length == 0)
            return item;
        foreach (var part in TopLevel(inside))
        {
            string argument = part.Trim();
            int eq = TopLevelEquals(argument);
            if (argument.Length == 0)
                throw new FormatException($"{noun} {item.Describe(text)}: an empty argument");
            if (eq < 0)
            {
                if (named.Count > 0)
                    throw new FormatException($"{noun} {item.Describe(text)}: '{argument}' comes after a name=value argument");
                positional.Add(argument);
            }
            else if (!named.TryAdd(argument[..eq].Trim().ToLowerInvariant(), argument[(eq + 1)..].Trim()))
            {
                throw new FormatException($"{noun} {item.Describe(text)}: '{argument[..eq].Trim()}' is given twice");
            }
        }

        return item;
    }

    // The parts of an argument list between commas outside parentheses: a nested list
    // (residual(layernorm,attention(4,causal=false))) stays one argument.
    private static List<string> TopLevel(string inside)
    {
        var parts = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i < inside.Length; i++)
        {
            if (inside[i] == '(')
                depth++;
            else if (inside[i] == ')')
                depth--;
            else if (inside[i] == ',' && depth == 0)
            {
                parts.Add(inside[start..i]);
                start = i + 1;
            }
        }

        parts.Add(inside[start..]);
        return parts;
    }

    // Where a name=value argument's '=' is, outside parentheses; -1 for a positional one.
    private static int TopLevelEquals(string argument)
    {
        int depth = 0;
        for (int i = 0; i < argument.Length; i++)
        {
            if (argument[i] == '(')
                depth++;
            else if (argument[i] == ')')
                depth--;
            else if (argument[i] == '=' && depth == 0)
                return i;
        }

        return -1;
    }

    private static int ParseInt(string text, string what, int min) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min
            ? value
            : throw new FormatException($"{what} '{text}' is not a whole number >= {min}");

    private static double ParseNumber(string text, string what) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value)
            ? value
            : throw new FormatException($"{what} '{text}' is not a number");
}
