using System.CommandLine;
using System.Globalization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The command-line flags the registered losses and optimizers declare (<see cref="Hyperparameter"/>):
/// one option per flag, whoever declares it, with a description that says which components take it
/// and their defaults. A new optimizer's flags appear here without a line in this file.
/// </summary>
internal sealed class HyperparameterFlags
{
    private readonly List<(Hyperparameter Parameter, Option Option)> flags = [];

    public HyperparameterFlags()
    {
        foreach (var group in Declarations().GroupBy(d => d.Parameter.Flag, StringComparer.Ordinal))
        {
            var first = group.First().Parameter;
            if (group.Any(d => d.Parameter.IsSwitch != first.IsSwitch))
                throw new InvalidOperationException($"{first.Flag} is declared both as a switch and as a number.");
            var defaults = group.Select(d => d.Parameter.Default).Distinct().ToList();
            string where = $"{Takers(group)} only";
            string text = first.IsSwitch
                ? $"{Capitalised(first.Description)} ({where})."
                : $"{Capitalised(first.Description)} ({where}) [{(defaults.Count == 1 ? Number(defaults[0]) : string.Join("; ", group.Select(d => $"{d.Taker.Split(' ')[1]} {Number(d.Parameter.Default)}")))}].";
            Option option = first.IsSwitch
                ? new Option<bool>(first.Flag) { Description = text }
                : new Option<double?>(first.Flag) { Description = text, HelpName = "X" };
            flags.Add((first, option));
        }
    }

    /// <summary>The options to add to the command.</summary>
    public IEnumerable<Option> Options => flags.Select(f => f.Option);


    /// <summary>The values the user gave, by flag.</summary>
    public HyperparameterValues Read(ParseResult parse)
    {
        var given = new Dictionary<string, double>();
        foreach (var (parameter, option) in flags)
        {
            if (parse.GetResult(option) is not { Implicit: false })
                continue;
            given[parameter.Flag] = option switch
            {
                Option<bool> s => parse.GetValue(s) ? 1 : 0,
                Option<double?> n => parse.GetValue(n) ?? parameter.Default,
                _ => throw new InvalidOperationException(option.Name),
            };
        }

        return new HyperparameterValues(given);
    }

    /// <summary>
    /// Every flag given is one the chosen loss or optimizer takes, and lies in its range: one line
    /// naming the flag otherwise ("--centered applies to --optimizer rmsprop only").
    /// </summary>
    public static void Check(HyperparameterValues values, LossEntry loss, OptimizerEntry optimizer)
    {
        foreach (var (flag, value) in values.Given)
        {
            var declared = loss.Hyperparameters.Concat(optimizer.Hyperparameters.Select(h => h.Parameter)).FirstOrDefault(h => h.Flag == flag);
            if (declared is null)
                throw new UsageException($"{flag} applies to {Takers(Declarations().Where(d => d.Parameter.Flag == flag))} only.");
            if (!declared.Allows(value))
                throw new UsageException($"{flag} must be {declared.Range}, got {Number(value)}.");
        }
    }

    // Every flag every registered loss and optimizer declares, with who declares it ("--optimizer sgd").
    private static IEnumerable<(Hyperparameter Parameter, string Taker)> Declarations() =>
        Registry<LossEntry>.All.SelectMany(e => e.Hyperparameters.Select(h => (h, $"--loss {e.Name}")))
            .Concat(Registry<OptimizerEntry>.All.SelectMany(e => e.Hyperparameters.Select(h => (h.Parameter, $"--optimizer {e.Name}"))));

    // "--optimizer rmsprop or sgd": the components that take a flag, by kind.
    private static string Takers(IEnumerable<(Hyperparameter Parameter, string Taker)> declarations) =>
        string.Join(", ", declarations.Select(d => d.Taker.Split(' ')).GroupBy(t => t[0]).Select(k => $"{k.Key} {string.Join(" or ", k.Select(t => t[1]))}"));

    private static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
