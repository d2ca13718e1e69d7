using Gpu.Kernels;

namespace Gpu.Runtime;

/// <summary>
/// Op launchers: validate operands on the host (shapes, devices, disposal, aliasing), then hand the
/// op to the device's backend (<see cref="Device.Dispatch"/>), which queues a kernel or runs host
/// code. They never synchronise a GPU and never read back to the host.
/// </summary>
public static partial class Ops
{
    /// <summary>Sets every element of <paramref name="output"/> to <paramref name="value"/>.</summary>
    public static void Fill(Tensor output, float value)
    {
        var d = Check.Usable(nameof(Fill), output, "output");
        if (output.Length > 0)
            d.Dispatch().Fill(output, value);
    }

    /// <summary>ReLU, <c>output = max(input, 0)</c>. Same shapes; output may be input itself (in place).</summary>
    public static void Relu(Tensor input, Tensor output)
    {
        var d = CheckUnary(nameof(Relu), input, output);
        if (input.Length > 0)
            d.Dispatch().Relu(input, output);
    }

    /// <summary>ReLU backward from the forward output: <c>gradInput = gradOutput where output &gt; 0, else 0</c>.</summary>
    public static void ReluBackward(Tensor output, Tensor gradOutput, Tensor gradInput)
    {
        const string op = nameof(ReluBackward);
        var d = Check.Usable(op, output, "output");
        Check.Usable(op, gradOutput, "gradOutput", d);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, output, "output", gradOutput, "gradOutput");
        Check.SameShape(op, output, "output", gradInput, "gradInput");
        if (output.Length > 0)
            d.Dispatch().ReluBackward(output, gradOutput, gradInput);
    }

    /// <summary>
    /// An elementwise activation, <c>output = f(input)</c> (<see cref="Runtime.Activation.Tanh"/>,
    /// Sigmoid, exact GELU, LeakyReLU with its slope, ...). Same shapes; output may be input itself.
    /// </summary>
    public static void Activation(Activation activation, Tensor input, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(activation);
        var d = CheckUnary(nameof(Activation), input, output);
        if (input.Length > 0)
            activation.Forward(d.Dispatch(), input, output);
    }

    /// <summary>
    /// The activation's backward pass: <c>gradInput = f'(input) gradOutput</c>, given the forward
    /// <paramref name="input"/> and <paramref name="output"/> (all four the same shape).
    /// </summary>
    public static void ActivationBackward(Activation activation, Tensor input, Tensor output, Tensor gradOutput, Tensor gradInput)
    {
        const string op = nameof(ActivationBackward);
        ArgumentNullException.ThrowIfNull(activation);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.Usable(op, gradOutput, "gradOutput", d);
        Check.Usable(op, gradInput, "gradInput", d);
        Check.SameShape(op, input, "input", output, "output");
        Check.SameShape(op, input, "input", gradOutput, "gradOutput");
        Check.SameShape(op, input, "input", gradInput, "gradInput");
        if (input.Length > 0)
            activation.Backward(d.Dispatch(), input, output, gradOutput, gradInput);
    }

    /// <summary>Elementwise product <c>output = a * b</c>; output may be a or b itself.</summary>
    public static void Multiply(Tensor a, Tensor b, Tensor output)
    {
        const string op = nameof(Multiply);
        var d = Check.Usable(op, a, "a");
        Check.Usable(op, b, "b", d);
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, a, "a", b, "b");
        Check.SameShape(op, a, "a", output, "output");
        Check.InPlaceOrDisjoint(op, output, "output", a, "a");
        Check.InPlaceOrDisjoint(op, output, "output", b, "b");
        if (a.Length > 0)
            d.Dispatch().Multiply(a, b, output);
    }

    /// <summary>
    /// Inverted dropout's mask: element i is <c>1 / (1 - p)</c> with probability 1 - p and 0
    /// otherwise, drawn from the counter-based generator at (seed, step, offset + i), so the same
    /// arguments give the same mask on every device. p = 1 gives zeros.
    /// </summary>
    public static void DropoutMask(Tensor mask, double p, ulong seed, long step, long offset = 0)
    {
        const string op = nameof(DropoutMask);
        var d = Check.Usable(op, mask, "mask");
        Check.Hyper(op, "p", p, 0, 1.0000001);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (mask.Length == 0)
            return;
        int threshold = (int)Math.Round(Math.Min(p, 1) * (1 << 24));
        float scale = p >= 1 ? 0f : (float)(1 / (1 - p));
        d.Dispatch().DropoutMask(mask, seed, step, offset, threshold, scale);
    }

    /// <summary>
    /// Copies rows <c>indices[offset .. offset + B)</c> of <paramref name="source"/> (N, ...) into
    /// <paramref name="destination"/> (B, ...), a row being everything after the first dimension:
    /// how a shuffled mini-batch is assembled on the device.
    /// </summary>
    public static void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination)
    {
        const string op = nameof(GatherRows);
        var d = Check.Usable(op, source, "source");
        Check.Usable(op, destination, "destination", d);
        ArgumentNullException.ThrowIfNull(indices);
        if (!ReferenceEquals(indices.Device, d))
            throw new ArgumentException($"{op}: indices are on another device than source.", nameof(indices));
        if (source.Rank < 1 || destination.Rank != source.Rank)
            throw new ShapeMismatchException($"{op}: source {source.Shape} and destination {destination.Shape} must have the same rank, at least 1.");
        for (int axis = 1; axis < source.Rank; axis++)
        {
            if (source.Shape[axis] != destination.Shape[axis])
                throw new ShapeMismatchException($"{op}: source {source.Shape} and destination {destination.Shape} differ in dimension {axis}.");
        }

        int rows = destination.Shape[0];
        if (offset < 0 || offset + rows > indices.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{op}: indices [{offset}, {offset + rows}) are outside the {indices.Length} indices.");
        if (indices.Length > 0 && (indices.Min < 0 || indices.Max >= source.Shape[0]))
            throw new ArgumentOutOfRangeException(nameof(indices), $"{op}: indices span [{indices.Min}, {indices.Max}] but source has {source.Shape[0]} rows.");
        Check.NoOverlap(op, destination, "destination", source, "source");
        if (destination.Length > 0)
            d.Dispatch().GatherRows(source, indices, offset, destination, destination.Length / rows);
    }

    // Same shapes; the output is the input itself or shares no memory with it.
    private static Device CheckUnary(string op, Tensor input, Tensor output)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", output, "output");
        Check.InPlaceOrDisjoint(op, output, "output", input, "input");
        return d;
    }
}
