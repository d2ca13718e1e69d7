namespace Gpu.Runtime;

/// <summary>
/// Op launchers: validate operands on the host (shapes, devices, disposal) and queue a kernel on the
/// device's stream. They never synchronise and never read back to the host.
/// </summary>
public static partial class Ops
{
    /// <summary>Sets every element of <paramref name="output"/> to <paramref name="value"/>.</summary>
    public static void Fill(Tensor output, float value)
    {
        var d = Check.Usable(nameof(Fill), output, "output");
        int n = output.Length;
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.Fill(output.HostSpan, value);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.Fill(d.Stream, threads, output.View, value, n, threads);
    }

    /// <summary>ReLU, <c>output = max(input, 0)</c>. Same shapes; output may be input itself (in place).</summary>
    public static void Relu(Tensor input, Tensor output)
    {
        const string op = nameof(Relu);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", output, "output");
        if (!ReferenceEquals(input, output) && !(input.RootOffset == output.RootOffset && ReferenceEquals(input.Root, output.Root)))
            Check.NoOverlap(op, output, "output", input, "input");
        int n = input.Length;
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.Relu(input.HostSpan, output.HostSpan);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.Relu(d.Stream, threads, input.View, output.View, n, threads);
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
        int n = output.Length;
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.ReluBackward(output.HostSpan, gradOutput.HostSpan, gradInput.HostSpan);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.ReluBackward(d.Stream, threads, output.View, gradOutput.View, gradInput.View, n, threads);
    }

    /// <summary>
    /// Copies rows <c>indices[offset .. offset + B)</c> of <paramref name="source"/> (N, F) into
    /// <paramref name="destination"/> (B, F): how a shuffled mini-batch is assembled on the device.
    /// </summary>
    public static void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination)
    {
        const string op = nameof(GatherRows);
        var d = Check.Usable(op, source, "source");
        Check.Usable(op, destination, "destination", d);
        ArgumentNullException.ThrowIfNull(indices);
        if (!ReferenceEquals(indices.Device, d))
            throw new ArgumentException($"{op}: indices are on another device than source.", nameof(indices));
        Check.Rank(op, source, "source", 2);
        Check.Rank(op, destination, "destination", 2);
        if (source.Shape[1] != destination.Shape[1])
            throw new ShapeMismatchException($"{op}: source {source.Shape} and destination {destination.Shape}: {source.Shape[1]} != {destination.Shape[1]} columns.");
        int rows = destination.Shape[0];
        if (offset < 0 || offset + rows > indices.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{op}: indices [{offset}, {offset + rows}) are outside the {indices.Length} indices.");
        if (indices.Length > 0 && (indices.Min < 0 || indices.Max >= source.Shape[0]))
            throw new ArgumentOutOfRangeException(nameof(indices), $"{op}: indices span [{indices.Min}, {indices.Max}] but source has {source.Shape[0]} rows.");
        Check.NoOverlap(op, destination, "destination", source, "source");
        int n = destination.Length;
        if (n == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.GatherRows(source.HostSpan, indices.HostSpan, offset, destination.HostSpan, destination.Shape[1]);
            return;
        }

        int threads = d.Geometry.Threads(n);
        d.Kernels.GatherRows(d.Stream, threads, source.View, indices.View, destination.View, offset, destination.Shape[1], n, threads);
    }
}
