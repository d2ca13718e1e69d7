using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// torch.nn.functional.layer_norm over the last axis: each row of <paramref name="input"/>
    /// (any shape whose last axis has <c>weight.Length</c> values) normalised to zero mean and unit
    /// (biased) variance, then scaled by <paramref name="weight"/> and shifted by <paramref name="bias"/>.
    /// <paramref name="mean"/> and <paramref name="rstd"/> (one value per row) receive what the
    /// backward pass needs.
    /// </summary>
    public static void LayerNorm(Tensor input, Tensor weight, Tensor bias, Tensor output, Tensor mean, Tensor rstd, float eps = 1e-5f)
    {
        const string op = nameof(LayerNorm);
        var (d, rows, width) = CheckLayerNorm(op, input, weight, mean, rstd);
        Check.Usable(op, bias, "bias", d);
        Check.SameLength(op, weight, "weight", bias, "bias");
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, input, "input", output, "output");
        Check.NoOverlap(op, output, "output", input, "input");
        if (!(float.IsFinite(eps) && eps >= 0))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, $"{op}: eps must be a finite number >= 0, got {eps}.");
        if (rows > 0)
            d.Dispatch().Run(new LayerNormForwardOp(input, weight, bias, output, mean, rstd, rows, width, eps));
    }

    /// <summary>
    /// The backward pass of <see cref="LayerNorm"/>: <paramref name="gradInput"/> (when not null) is
    /// overwritten, the weight and bias gradients are accumulated into; <paramref name="scratch"/>
    /// holds at least as many values as the input (each element's <c>dy xhat</c>, summed by column).
    /// </summary>
    public static void LayerNormBackward(
        Tensor input, Tensor weight, Tensor mean, Tensor rstd, Tensor gradOutput, Tensor? gradInput, Tensor gradWeight, Tensor gradBias, Tensor scratch)
    {
        const string op = nameof(LayerNormBackward);
        var (d, rows, width) = CheckLayerNorm(op, input, weight, mean, rstd);
        Check.Usable(op, gradOutput, "gradOutput", d);
        Check.SameShape(op, input, "input", gradOutput, "gradOutput");
        if (gradInput is not null)
        {
            Check.Usable(op, gradInput, "gradInput", d);
            Check.SameShape(op, input, "input", gradInput, "gradInput");
        }

        Check.Usable(op, gradWeight, "gradWeight", d);
        Check.Usable(op, gradBias, "gradBias", d);
        Check.SameLength(op, weight, "weight", gradWeight, "gradWeight");
        Check.SameLength(op, weight, "weight", gradBias, "gradBias");
        Check.Usable(op, scratch, "scratch", d);
        if (scratch.Length < input.Length)
            throw new ShapeMismatchException($"{op}: scratch {scratch.Shape} holds fewer than the input's {input.Length} values.");
        if (rows > 0)
            d.Dispatch().Run(new LayerNormBackwardOp(input, weight, mean, rstd, gradOutput, gradInput, gradWeight, gradBias, scratch.Slice(0, input.Length), rows, width));
    }

    private static (Device Device, int Rows, int Width) CheckLayerNorm(string op, Tensor input, Tensor weight, Tensor mean, Tensor rstd)
    {
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, weight, "weight", d);
        Check.Usable(op, mean, "mean", d);
        Check.Usable(op, rstd, "rstd", d);
        int width = weight.Length;
        if (input.Rank < 1 || width == 0 || input.Shape[input.Rank - 1] != width)
            throw new ShapeMismatchException($"{op}: input {input.Shape} and weight {weight.Shape}: the last axis must have {width} values.");
        int rows = input.Length / width;
        if (mean.Length != rows || rstd.Length != rows)
            throw new ShapeMismatchException($"{op}: input {input.Shape} has {rows} rows but mean {mean.Shape} and rstd {rstd.Shape} hold {mean.Length} and {rstd.Length}.");
        return (d, rows, width);
    }

    private readonly struct LayerNormForwardOp(Tensor x, Tensor weight, Tensor bias, Tensor y, Tensor mean, Tensor rstd, int rows, int width, float eps)
        : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostRanges.For(rows, (long)rows * width >= 1 << 16, 1, this);

        // Rows [start, start + count), vectorised (HostLayerNorm).
        public void Run(int start, int count)
        {
            var xs = x.HostSpan;
            var ys = y.HostSpan;
            var w = weight.HostSpan;
            var b = bias.HostSpan;
            for (int r = start; r < start + count; r++)
                (mean.HostSpan[r], rstd.HostSpan[r]) = HostLayerNorm.Forward(xs.Slice(r * width, width), w, b, ys.Slice(r * width, width), eps);
        }

        public void RunOnKernels(KernelBackend k)
        {
            int threads = k.Geometry.Threads(rows);
            k.Kernels.Launch(LayerNormKernels.Forward, k.Stream, threads, x.Flat, weight.Flat, bias.Flat, y.Flat, mean.Flat, rstd.Flat, rows, width, eps, threads);
        }

        public OpCost Cost => new(0, 4.0 * 2 * rows * width);
    }

    private readonly struct LayerNormBackwardOp(
        Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor? dx, Tensor dweight, Tensor dbias, Tensor products, int rows, int width)
        : IDeviceOp, IRangeOp
    {
        // Reads x and dy, writes dx and the per-row products.
        public OpCost Cost => new(0, 4.0 * 4 * rows * width);

        public void RunOnHost(HostBackend host)
        {
            HostRanges.For(rows, (long)rows * width >= 1 << 16, 1, this);
            host.ColumnSums(products, dweight, rows, width, accumulate: true);
            host.ColumnSums(dy, dbias, rows, width, accumulate: true);
        }

        // Rows [start, start + count), vectorised (HostLayerNorm).
        public void Run(int start, int count)
        {
            var xs = x.HostSpan;
            var w = weight.HostSpan;
            var dys = dy.HostSpan;
            var ps = products.HostSpan;
            var dxs = dx is null ? default : dx.HostSpan;
            var scratch = HostLayerNorm.RentScratch(width);
            try
            {
                for (int r = start; r < start + count; r++)
                {
                    int at = r * width;
                    HostLayerNorm.Backward(xs.Slice(at, width), w, mean.HostSpan[r], rstd.HostSpan[r], dys.Slice(at, width), ps.Slice(at, width),
                        dx is null ? default : dxs.Slice(at, width), scratch);
                }
            }
            finally
            {
                HostLayerNorm.Return(scratch);
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            int threads = k.Geometry.Threads(rows);
            k.Kernels.Launch(LayerNormKernels.Backward, k.Stream, threads, x.Flat, weight.Flat, mean.Flat, rstd.Flat, dy.Flat,
                (dx ?? products).Flat, products.Flat, rows, width, dx is null ? 0 : 1, threads);
            k.ColumnSums(products, dweight, rows, width, accumulate: true);
            k.ColumnSums(dy, dbias, rows, width, accumulate: true);
        }
    }
}
