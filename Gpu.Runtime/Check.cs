namespace Gpu.Runtime;

/// <summary>
/// Argument checks shared by the op launchers. Every check runs on the host before anything is
/// launched and throws an exception that names the op and the operand, so a user error never
/// reaches a kernel.
/// </summary>
internal static class Check
{
    /// <summary>Not null, not disposed, on <paramref name="device"/> (or defines it when null).</summary>
    public static Device Usable(string op, Tensor? tensor, string role, Device? device = null)
    {
        if (tensor is null)
            throw new ArgumentNullException(role, $"{op}: {role} is null.");
        if (tensor.IsDisposed)
            throw new ObjectDisposedException(nameof(Tensor), $"{op}: {role} {tensor.Describe()} has been disposed.");
        if (device is not null && !ReferenceEquals(tensor.Device, device))
            throw new ArgumentException($"{op}: {role} {tensor.Describe()} is on {tensor.Device.Info.KindName} ({tensor.Device.Info.Name}) but the other operands are on {device.Info.KindName} ({device.Info.Name}).", role);
        return tensor.Device;
    }

    public static void Rank(string op, Tensor tensor, string role, int rank)
    {
        if (tensor.Rank != rank)
            throw new ShapeMismatchException($"{op}: {role} {tensor.Shape} must have rank {rank} but has rank {tensor.Rank}.");
    }

    public static void SameShape(string op, Tensor a, string roleA, Tensor b, string roleB)
    {
        if (!a.Shape.Equals(b.Shape))
            throw new ShapeMismatchException($"{op}: {roleA} {a.Shape} and {roleB} {b.Shape}: shapes differ.");
    }

    public static void SameLength(string op, Tensor a, string roleA, Tensor b, string roleB)
    {
        if (a.Length != b.Length)
            throw new ShapeMismatchException($"{op}: {roleA} {a.Shape} and {roleB} {b.Shape}: {a.Length} != {b.Length} elements.");
    }

    public static void Scalar(string op, Tensor output, string role)
    {
        if (output.Length != 1)
            throw new ShapeMismatchException($"{op}: {role} {output.Shape} must hold exactly one element for a reduced result.");
    }

    /// <summary>Rejects an output that shares memory with an input (a partial overlap would race).</summary>
    public static void NoOverlap(string op, Tensor output, string outputRole, Tensor input, string inputRole)
    {
        if (!ReferenceEquals(output.Root, input.Root))
            return;
        long outStart = output.RootOffset, outEnd = outStart + output.Length;
        long inStart = input.RootOffset, inEnd = inStart + input.Length;
        if (outStart < inEnd && inStart < outEnd)
            throw new ArgumentException($"{op}: {outputRole} {output.Describe()} overlaps {inputRole} {input.Describe()} in memory; use a separate output tensor.", outputRole);
    }

    /// <summary>Accepts an output that is exactly the input (in place) or shares no memory with it.</summary>
    public static void InPlaceOrDisjoint(string op, Tensor output, string outputRole, Tensor input, string inputRole)
    {
        if (!(output.RootOffset == input.RootOffset && ReferenceEquals(output.Root, input.Root) && output.Length == input.Length))
            NoOverlap(op, output, outputRole, input, inputRole);
    }

    /// <summary>Finite and at least <paramref name="min"/> (and below <paramref name="maxExclusive"/> when given).</summary>
    public static void Hyper(string op, string name, double value, double min, double maxExclusive = double.PositiveInfinity)
    {
        if (!double.IsFinite(value) || value < min || value >= maxExclusive)
        {
            string range = double.IsPositiveInfinity(maxExclusive) ? $"a finite number >= {min}" : $"in [{min}, {maxExclusive})";
            throw new ArgumentOutOfRangeException(name, value, $"{op}: {name} must be {range}, got {value}.");
        }
    }
}
