using System.Globalization;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A model written as one line, the command line's <c>--model</c>: layers separated by commas,
/// lower case, each a word with optional arguments in parentheses. Input channels and features
/// follow from the shape flowing in, so only what changes is written:
/// <code>
///   conv(out,kernel[,stride=S][,padding=P])   Conv2d
///   maxpool(k[,stride=S])  avgpool(k[,stride=S])   MaxPool2d, AvgPool2d (stride defaults to k)
///   flatten   linear(out)   dropout(p)
///   relu  tanh  sigmoid  gelu  leakyrelu[(slope)]
/// </code>
/// e.g. <c>conv(16,3,padding=1),relu,maxpool(2),flatten,linear(10)</c> for (1, 8, 8) images. Errors
/// name the offending layer and where it starts in the text.
/// </summary>
public static class Architecture
{
    /// <summary>Builds the model <paramref name="text"/> describes for samples of <paramref name="inputShape"/> (not yet on a device).</summary>
    public static Sequential Parse(string text, TensorShape inputShape)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(inputShape);
        var modules = new List<Module>();
        var shape = inputShape;
        foreach (var token in Tokens(text))
        {
            Module module;
            try
            {
                module = Create(token, shape);
                shape = module.OutputShapeFor(shape);
            }
            catch (Exception e) when (e is ShapeMismatchException or ArgumentException or FormatException)
            {
                throw new FormatException($"{token.Describe(text)}: {e.Message}", e);
            }

            modules.Add(module);
        }

        if (modules.Count == 0)
            throw new FormatException("the model is empty: write its layers separated by commas, e.g. linear(20),relu,linear(1).");
        return new Sequential(inputShape, [.. modules]);
    }

    /// <summary>The one-line form of a model's layers (what <see cref="Parse"/> reads back).</summary>
    public static string Format(Sequential model) => string.Join(",", model.Modules.Select(Format));

    private static string Format(Module module) => module switch
    {
        Conv2d c => $"conv({c.OutChannels},{c.KernelSize}{(c.Stride != 1 ? $",stride={c.Stride}" : "")}{(c.Padding != 0 ? $",padding={c.Padding}" : "")})",
        MaxPool2d p => $"maxpool({p.KernelSize}{(p.Stride != p.KernelSize ? $",stride={p.Stride}" : "")})",
        AvgPool2d p => $"avgpool({p.KernelSize}{(p.Stride != p.KernelSize ? $",stride={p.Stride}" : "")})",
        Linear l => $"linear({l.OutFeatures})",
        Dropout d => $"dropout({d.P.ToString("R", CultureInfo.InvariantCulture)})",
        LeakyReLU l when l.NegativeSlope != 0.01f => $"leakyrelu({l.NegativeSlope.ToString("R", CultureInfo.InvariantCulture)})",
        _ => module.TypeName.ToLowerInvariant(),
    };

    private static Module Create(Token t, TensorShape shape)
    {
        switch (t.Word)
        {
            case "conv":
                t.Expect(2, "stride", "padding");
                if (shape.Rank != 3)
                    throw new ShapeMismatchException($"conv takes images (N, C, H, W) but gets {Module.Describe(shape)} (give --input-shape C,H,W)");
                return new Conv2d(shape[0], t.Int(0, "out"), t.Int(1, "kernel"), t.Named("stride", 1), t.Named("padding", 0, min: 0));
            case "maxpool":
                t.Expect(1, "stride");
                return new MaxPool2d(t.Int(0, "kernel"), t.Named("stride", t.Int(0, "kernel")));
            case "avgpool":
                t.Expect(1, "stride");
                return new AvgPool2d(t.Int(0, "kernel"), t.Named("stride", t.Int(0, "kernel")));
            case "linear":
                t.Expect(1);
                if (shape.Rank != 1)
                    throw new ShapeMismatchException($"linear takes (N, features) but gets {Module.Describe(shape)} (put a flatten before it)");
                return new Linear(shape[0], t.Int(0, "out"));
            case "dropout":
                t.Expect(1);
                return new Dropout(t.Number(0, "p"));
            case "leakyrelu":
                t.Expect(t.Arguments.Count == 0 ? 0 : 1);
                return new LeakyReLU(t.Arguments.Count == 0 ? 0.01f : (float)t.Number(0, "slope"));
            case "flatten":
            case "relu":
            case "tanh":
            case "sigmoid":
            case "gelu":
                t.Expect(0);
                return t.Word switch
                {
                    "flatten" => new Flatten(),
                    "relu" => new ReLU(),
                    "tanh" => new Tanh(),
                    "sigmoid" => new Sigmoid(),
                    _ => new GELU(),
                };
            default:
                throw new FormatException($"unknown layer '{t.Word}' (known: conv, maxpool, avgpool, flatten, linear, dropout, relu, tanh, sigmoid, gelu, leakyrelu)");
        }
    }

    // Top-level items: split at commas outside parentheses, keeping where each starts.
    private static List<Token> Tokens(string text)
    {
        var tokens = new List<Token>();
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
                tokens.Add(Token.Read(text, start, i));
                start = i + 1;
            }
        }

        if (depth != 0)
            throw new FormatException($"unbalanced '(' in \"{text}\".");
        if (tokens.Count == 1 && tokens[0].Word.Length == 0)
            return [];
        return tokens;
    }

    /// <summary>One layer of the text: its word, positional arguments and name=value arguments.</summary>
    private sealed record Token(string Word, List<string> Arguments, Dictionary<string, string> NamedArguments, int Start, string Text)
    {
        public static Token Read(string text, int start, int end)
        {
            string raw = text[start..end];
            string trimmed = raw.Trim();
            int at = start + raw.IndexOf(trimmed, StringComparison.Ordinal) + 1;
            int open = trimmed.IndexOf('(');
            string word = (open < 0 ? trimmed : trimmed[..open]).Trim().ToLowerInvariant();
            var positional = new List<string>();
            var named = new Dictionary<string, string>();
            var token = new Token(word, positional, named, at, trimmed);
            if (word.Length == 0)
                throw new FormatException($"{token.Describe(text)}: a layer is missing (two commas in a row, or one at an end)");
            if (open >= 0)
            {
                if (!trimmed.EndsWith(')'))
                    throw new FormatException($"{token.Describe(text)}: text after ')'");
                string inside = trimmed[(open + 1)..^1];
                if (inside.Trim().Length > 0)
                {
                    foreach (var part in inside.Split(','))
                    {
                        string item = part.Trim();
                        int eq = item.IndexOf('=');
                        if (item.Length == 0)
                            throw new FormatException($"{token.Describe(text)}: an empty argument");
                        if (eq < 0)
                        {
                            if (named.Count > 0)
                                throw new FormatException($"{token.Describe(text)}: '{item}' comes after a name=value argument");
                            positional.Add(item);
                        }
                        else if (!named.TryAdd(item[..eq].Trim().ToLowerInvariant(), item[(eq + 1)..].Trim()))
                        {
                            throw new FormatException($"{token.Describe(text)}: '{item[..eq].Trim()}' is given twice");
                        }
                    }
                }
            }

            return token;
        }

        public string Describe(string text) => $"layer '{Text}' at character {Start} of \"{text}\"";

        public void Expect(int positional, params string[] names)
        {
            if (Arguments.Count != positional)
                throw new FormatException($"{Word} takes {positional} positional argument{(positional == 1 ? "" : "s")}, got {Arguments.Count}");
            foreach (var key in NamedArguments.Keys)
            {
                if (!names.Contains(key))
                    throw new FormatException($"{Word} has no argument '{key}'{(names.Length > 0 ? $" (it takes {string.Join(", ", names)})" : "")}");
            }
        }

        public int Int(int index, string what) => ParseInt(Arguments[index], what, 1);

        public double Number(int index, string what) =>
            double.TryParse(Arguments[index], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value)
                ? value
                : throw new FormatException($"{what} '{Arguments[index]}' is not a number");

        public int Named(string name, int fallback, int min = 1) =>
            NamedArguments.TryGetValue(name, out var text) ? ParseInt(text, name, min) : fallback;

        private static int ParseInt(string text, string what, int min) =>
            int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min
                ? value
                : throw new FormatException($"{what} '{text}' is not a whole number >= {min}");
    }
}
