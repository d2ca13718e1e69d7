using System.CommandLine;
using System.Text.RegularExpressions;

namespace Gpu.Cli;

/// <summary>
/// System.CommandLine's parse errors in the words a user acts on: an unknown command or option
/// with the closest known one ("did you mean"), a value that is not of its option's kind named in
/// words ("a number"), never a .NET type name.
/// </summary>
internal static partial class ParseErrors
{
    /// <summary>The one line to print for <paramref name="parse"/>'s first error.</summary>
    public static string Describe(ParseResult parse, RootCommand root)
    {
        var command = parse.CommandResult.Command;
        if (command == root)
        {
            string? word = parse.Tokens.Select(t => t.Value).FirstOrDefault(t => !t.StartsWith('-'));
            string known = string.Join(", ", root.Subcommands.Select(c => c.Name));
            if (word is null)
                return $"no command given: use one of {known} (gpu help [command] describes each)";
            return $"unknown command '{word}'{DidYouMean(word, root.Subcommands.Select(c => c.Name))}; the commands are {known}";
        }

        string message = CommandLine.Flatten(parse.Errors[0].Message);
        if (Unrecognized().Match(message) is { Success: true } unknown)
        {
            string token = unknown.Groups[1].Value;
            if (token.StartsWith('-'))
            {
                var options = command.Options.Concat(root.Options).SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith('-')).Distinct();
                return $"unknown option '{token}' for {command.Name}{DidYouMean(token, options)} (see gpu help {command.Name})";
            }

            return $"unexpected argument '{token}' for {command.Name} (see gpu help {command.Name})";
        }

        if (NotAmong().Match(message) is { Success: true } value)
        {
            string option = parse.Errors[0].SymbolResult switch
            {
                System.CommandLine.Parsing.OptionResult o => o.Option.Name,
                System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option.Name,
                _ => "the value",
            };
            var allowed = Quoted().Matches(value.Groups[2].Value).Select(m => m.Groups[1].Value).ToList();
            return $"{option}: unknown value '{value.Groups[1].Value}'{DidYouMean(value.Groups[1].Value, allowed)}; use one of {string.Join(", ", allowed)}";
        }

        if (CannotParse().Match(message) is { Success: true } bad)
            return $"{bad.Groups[2].Value} takes {Kind(bad.Groups[3].Value)}, got '{bad.Groups[1].Value}'";
        return $"{message} (see gpu help {command.Name})";
    }

    /// <summary>" (did you mean 'x'?)" for the closest candidate within a few edits, else "".</summary>
    public static string DidYouMean(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int distance = candidate.StartsWith(word, StringComparison.OrdinalIgnoreCase) && word.TrimStart('-').Length >= 2 ? 1 : Distance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
                (best, bestDistance) = (candidate, distance);
        }

        int allowed = Math.Max(2, word.TrimStart('-').Length / 3);
        return best is not null && bestDistance <= allowed ? $" (did you mean '{best}'?)" : "";
    }

    // The value kinds of our options, in words.
    private static string Kind(string typeName) => typeName.Replace("System.Nullable`1[", "").TrimEnd(']') switch
    {
        "System.Double" or "System.Single" => "a number",
        "System.Int32" or "System.Int64" => "a whole number",
        "System.Boolean" => "true or false",
        _ => "a value of another kind",
    };

    // Levenshtein distance, with a transposition counting as one edit (Damerau's restricted form).
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }

        return d[a.Length, b.Length];
    }

    [GeneratedRegex("^Unrecognized command or argument '(.*)'\\.?$")]
    private static partial Regex Unrecognized();

    [GeneratedRegex("^Argument '(.*)' not recognized\\. Must be one of:(.*)$")]
    private static partial Regex NotAmong();

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex Quoted();

    [GeneratedRegex("^Cannot parse argument '(.*)' for option '(.*)' as expected type '(.*)'\\.?$")]
    private static partial Regex CannotParse();
}
