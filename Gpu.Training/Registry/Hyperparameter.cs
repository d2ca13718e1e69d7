using System.Globalization;

namespace Gpu.Training;

/// <summary>
/// A number or switch that a registered component (a loss, an optimizer) reads from the command line,
/// e.g. <c>--momentum</c>, <c>--huber-delta</c> or <c>--centered</c>. It is declared in the component's
/// registry entry, so the command line offers it, checks its range and says which components take it,
/// without a list of its own. Several components may declare the same flag, each with its own default
/// (<c>--weight-decay</c>: 0 for Adam, 0.01 for AdamW).
/// </summary>
/// <param name="Flag">The flag, e.g. <c>--momentum</c>.</param>
/// <param name="Description">What it sets, in PyTorch's terms, for help texts.</param>
/// <param name="Default">Its value when not given (a switch: 0, off).</param>
/// <param name="Min">Smallest value allowed (see <paramref name="MinExclusive"/>).</param>
/// <param name="Max">Largest value allowed (see <paramref name="MaxExclusive"/>).</param>
/// <param name="MinExclusive">True when <paramref name="Min"/> itself is not allowed.</param>
/// <param name="MaxExclusive">True when <paramref name="Max"/> itself is not allowed.</param>
/// <param name="IsSwitch">A flag without a value (on when given).</param>
public sealed record Hyperparameter(
    string Flag, string Description, double Default = 0, double Min = 0, double Max = double.PositiveInfinity,
    bool MinExclusive = false, bool MaxExclusive = false, bool IsSwitch = false)
{
    /// <summary>A flag without a value, off unless given.</summary>
    public static Hyperparameter Switch(string flag, string description) => new(flag, description, IsSwitch: true);

    /// <summary>The allowed values in words: "a number >= 0", "a number in (0, 1)".</summary>
    public string Range
    {
        get
        {
            string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);
            if (double.IsPositiveInfinity(Max))
                return $"a finite number {(MinExclusive ? ">" : ">=")} {Number(Min)}";
            return $"a number in {(MinExclusive ? "(" : "[")}{Number(Min)}, {Number(Max)}{(MaxExclusive ? ")" : "]")}";
        }
    }

    /// <summary>True when <paramref name="value"/> lies in the allowed range.</summary>
    public bool Allows(double value) =>
        IsSwitch || (double.IsFinite(value)
            && (MinExclusive ? value > Min : value >= Min)
            && (MaxExclusive ? value < Max : value <= Max));
}

/// <summary>The hyperparameter flags given on the command line, by flag name; the rest take each component's default.</summary>
public sealed class HyperparameterValues(IReadOnlyDictionary<string, double> given)
{
    /// <summary>No flag given: every component's defaults.</summary>
    public static HyperparameterValues None { get; } = new(new Dictionary<string, double>());

    /// <summary>The values given, by flag.</summary>
    public IReadOnlyDictionary<string, double> Given => given;

    /// <summary>True when the flag was given.</summary>
    public bool IsGiven(string flag) => given.ContainsKey(flag);

    /// <summary>The value given for <paramref name="parameter"/>, else its default; throws when out of range.</summary>
    public double Number(Hyperparameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        double value = given.TryGetValue(parameter.Flag, out double v) ? v : parameter.Default;
        if (!parameter.Allows(value))
            throw new ArgumentOutOfRangeException(parameter.Flag, value, $"{parameter.Flag} must be {parameter.Range}, got {value.ToString("R", CultureInfo.InvariantCulture)}.");
        return value;
    }

    /// <summary>True when the switch was given.</summary>
    public bool Switch(Hyperparameter parameter) => Number(parameter) != 0;
}
