using System.Numerics;
using System.Runtime.InteropServices;
using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// Adds the gradient of the penalty <c>l1 * sum |p| + l2 * sum p^2</c> to <paramref name="gradients"/>:
    /// <c>g += l1 sign(p) + 2 l2 p</c> (sign(0) = 0), the gradient PyTorch's autograd gives when the
    /// penalty is added to the loss.
    /// </summary>
    public static void AddRegularizationGradient(Tensor parameters, Tensor gradients, float l1, float l2)
    {
        const string op = nameof(AddRegularizationGradient);
        var d = CheckOptimizerBuffers(op, parameters, gradients, null, "");
        Check.Hyper(op, "l1", l1, 0);
        Check.Hyper(op, "l2", l2, 0);
        if (parameters.Length > 0 && (l1 != 0 || l2 != 0))
            d.Dispatch().Run(new AddPenaltyOp(gradients, parameters, l1, l2));
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ over one flat gradient: writes the sum of squares of
    /// <paramref name="gradients"/> into the one-element <paramref name="sumOfSquares"/> (the total
    /// 2-norm squared, kept on the device for a report), then scales every gradient by
    /// <c>min(maxNorm / (norm + 1e-6), 1)</c>. Two launches, no read-back.
    /// </summary>
    public static void ClipGradientNorm(Tensor gradients, float maxNorm, Tensor sumOfSquares)
    {
        const string op = nameof(ClipGradientNorm);
        var d = Check.Usable(op, gradients, "gradients");
        Check.Usable(op, sumOfSquares, "sumOfSquares", d);
        Check.Scalar(op, sumOfSquares, "sumOfSquares");
        Check.NoOverlap(op, sumOfSquares, "sumOfSquares", gradients, "gradients");
        if (!(float.IsFinite(maxNorm) && maxNorm > 0))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, $"{op}: the largest norm must be a finite number > 0, got {maxNorm}.");
        RegularizationPenalty(gradients, 0f, 1f, sumOfSquares);
        if (gradients.Length > 0)
            d.Dispatch().Run(new ClipByNormOp(gradients, sumOfSquares, maxNorm));
    }

    /// <summary>torch.nn.utils.clip_grad_value_: every gradient clamped to [-limit, limit] (NaN stays NaN).</summary>
    public static void ClipGradientValue(Tensor gradients, float limit)
    {
        const string op = nameof(ClipGradientValue);
        var d = Check.Usable(op, gradients, "gradients");
        if (!(float.IsFinite(limit) && limit > 0))
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"{op}: the limit must be a finite number > 0, got {limit}.");
        if (gradients.Length > 0)
            d.Dispatch().Run(new ClampOp(gradients, limit));
    }

    // g += Penalty(p), element by element (GradientKernels.Penalty on both paths).
    private readonly struct AddPenaltyOp(Tensor g, Tensor p, float l1, float l2) : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostElementwise.For(g.Length, this);

        public void Run(int start, int count)
        {
            var gs = g.HostSpan.Slice(start, count);
            var ps = p.HostSpan.Slice(start, count);
            for (int i = 0; i < gs.Length; i++)
                gs[i] += GradientKernels.Penalty(ps[i], l1, l2);
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = g.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(GradientKernels.AddPenalty, k.Stream, threads, g.Flat, p.Flat, l1, l2, n, threads);
        }
    }

    // g *= the clip coefficient of the norm whose square lies in sumOfSquares[0].
    private readonly struct ClipByNormOp(Tensor g, Tensor sumOfSquares, float maxNorm) : IDeviceOp
    {
        public void RunOnHost(HostBackend host) =>
            HostElementwise.For(g.Length, new ScaleRange(g, GradientKernels.ClipCoefficient(sumOfSquares.HostSpan[0], maxNorm)));

        public void RunOnKernels(KernelBackend k)
        {
            int n = g.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(GradientKernels.ClipByNorm, k.Stream, threads, g.Flat, sumOfSquares.Flat, maxNorm, n, threads);
        }
    }

    // A piece of g times a factor, vectorised.
    private readonly struct ScaleRange(Tensor g, float factor) : IRangeOp
    {
        public void Run(int start, int count)
        {
            var gs = g.HostSpan.Slice(start, count);
            var f = new Vector<float>(factor);
            ref float first = ref MemoryMarshal.GetReference(gs);
            int i = 0;
            for (; i + Vector<float>.Count <= gs.Length; i += Vector<float>.Count)
                (Vector.LoadUnsafe(ref first, (nuint)i) * f).StoreUnsafe(ref first, (nuint)i);
            for (; i < gs.Length; i++)
                gs[i] *= factor;
        }
    }

    // g = clamp(g, -limit, limit).
    private readonly struct ClampOp(Tensor g, float limit) : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostElementwise.For(g.Length, this);

        public void Run(int start, int count)
        {
            var gs = g.HostSpan.Slice(start, count);
            for (int i = 0; i < gs.Length; i++)
                gs[i] = GradientKernels.Clamp(gs[i], limit);
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = g.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(GradientKernels.Clamp, k.Stream, threads, g.Flat, limit, n, threads);
        }
    }
}
