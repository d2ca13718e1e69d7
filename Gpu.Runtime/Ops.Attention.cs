using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime;

/// <summary>Dropout on the attention weights in training: probability <paramref name="P"/> in [0, 1), drawn from (seed, step, index) as <see cref="Ops.DropoutMask"/> draws.</summary>
public readonly record struct AttentionDropout(double P, ulong Seed, long Step, long FirstRow);

public static partial class Ops
{
    /// <summary>The widest head (D / heads columns) <see cref="Attention"/> takes.</summary>
    public const int MaxAttentionHeadDim = AttentionKernels.MaxHeadDim;

    /// <summary>
    /// Multi-head self-attention, fused (nanoGPT's CausalSelfAttention between its two projections):
    /// <paramref name="qkv"/> (N, T, 3D) holds q, k and v side by side, each split into
    /// <paramref name="heads"/> heads; <paramref name="output"/> (N, T, D) receives
    /// <c>softmax(q k^T / sqrt(D / heads) + mask) v</c> per head, heads side by side (PyTorch's
    /// <c>transpose(1, 2).view(N, T, D)</c>); <paramref name="lse"/> (N heads T values) the
    /// log-sum-exp of each row of scaled scores, which the backward pass needs. The T x T weights are
    /// never stored (docs/kernels.md).
    /// </summary>
    public static void Attention(Tensor qkv, Tensor output, Tensor lse, int heads, bool causal, AttentionDropout? dropout = null)
    {
        const string op = nameof(Attention);
        var (d, s) = CheckAttention(op, qkv, output, lse, heads, causal, dropout);
        Check.NoOverlap(op, output, "output", qkv, "qkv");
        if (output.Length > 0)
            d.Dispatch().Run(new AttentionForwardOp(qkv, output, lse, s));
    }

    /// <summary>
    /// The backward pass of <see cref="Attention"/> (the same arguments, and its output and lse):
    /// <paramref name="gradQkv"/> (N, T, 3D) is overwritten with the gradients of q, k and v;
    /// <paramref name="delta"/> (N heads T values) is scratch.
    /// </summary>
    public static void AttentionBackward(
        Tensor qkv, Tensor output, Tensor gradOutput, Tensor lse, Tensor delta, Tensor gradQkv, int heads, bool causal, AttentionDropout? dropout = null)
    {
        const string op = nameof(AttentionBackward);
        var (d, s) = CheckAttention(op, qkv, output, lse, heads, causal, dropout);
        Check.Usable(op, gradOutput, "gradOutput", d);
        Check.SameShape(op, output, "output", gradOutput, "gradOutput");
        Check.Usable(op, gradQkv, "gradQkv", d);
        Check.SameShape(op, qkv, "qkv", gradQkv, "gradQkv");
        Check.Usable(op, delta, "delta", d);
        Check.SameLength(op, lse, "lse", delta, "delta");
        if (output.Length > 0)
            d.Dispatch().Run(new AttentionBackwardOp(qkv, output, gradOutput, lse, delta, gradQkv, s));
    }

    // The (query, key) pairs scored per head, summed over the batch: T^2, or T (T + 1) / 2 when causal.
    private static double AttentionPairs(AttentionShape s) =>
        (double)s.Batch * (s.Causal == 1 ? s.Steps * (s.Steps + 1.0) / 2 : (double)s.Steps * s.Steps);

    private static (Device Device, AttentionShape Shape) CheckAttention(string op, Tensor qkv, Tensor output, Tensor lse, int heads, bool causal, AttentionDropout? dropout)
    {
        var d = Check.Usable(op, qkv, "qkv");
        Check.Usable(op, output, "output", d);
        Check.Usable(op, lse, "lse", d);
        if (qkv.Rank != 3 || qkv.Shape[2] % 3 != 0)
            throw new ShapeMismatchException($"{op}: qkv {qkv.Shape} must be (N, T, 3D).");
        int n = qkv.Shape[0], t = qkv.Shape[1], width = qkv.Shape[2] / 3;
        if (heads < 1 || width % heads != 0)
            throw new ShapeMismatchException($"{op}: {heads} heads do not divide the width {width}.");
        if (width / heads > AttentionKernels.MaxHeadDim)
            throw new ShapeMismatchException($"{op}: heads of {width / heads} columns are wider than the {AttentionKernels.MaxHeadDim} the kernels hold; use more heads.");
        if (output.Rank != 3 || output.Shape[0] != n || output.Shape[1] != t || output.Shape[2] != width)
            throw new ShapeMismatchException($"{op}: output {output.Shape} must be ({n}, {t}, {width}).");
        if (lse.Length != (long)n * heads * t)
            throw new ShapeMismatchException($"{op}: lse {lse.Shape} must hold N heads T = {(long)n * heads * t} values.");
        var s = AttentionShape.Create(n, t, width, heads, causal);
        if (dropout is { } p && p.P > 0)
        {
            if (!(p.P < 1))
                throw new ArgumentOutOfRangeException(nameof(dropout), p.P, $"{op}: dropout must be in [0, 1).");
            ArgumentOutOfRangeException.ThrowIfNegative(p.FirstRow);
            s.DropThreshold = (int)Math.Round(p.P * (1 << 24));
            s.KeepScale = (float)(1 / (1 - p.P));
            s.Seed = p.Seed;
            s.Step = p.Step;
            s.FirstRow = p.FirstRow;
        }

        return (d, s);
    }

    // Groups of up to 32 threads, one per query (or key) row of a tile; fewer where the accelerator's groups are smaller.
    private static KernelConfig AttentionGroups(KernelBackend k, AttentionShape s)
    {
        int tile = Math.Min(AttentionKernels.MaxTile, k.Geometry.MaxGroupSize);
        return new KernelConfig(AttentionKernels.Groups(s, tile), tile);
    }

    private readonly unsafe struct AttentionForwardOp(Tensor qkv, Tensor y, Tensor lse, AttentionShape s) : IDeviceOp
    {
        public void RunOnHost(HostBackend host)
        {
            fixed (float* q = qkv.HostSpan, o = y.HostSpan, l = lse.HostSpan)
                HostAttention.Forward(q, o, l, s);
        }

        public void RunOnKernels(KernelBackend k) =>
            k.Kernels.LaunchGrouped(AttentionKernels.Forward, k.Stream, AttentionGroups(k, s), qkv.Flat, y.Flat, lse.Flat, s);

        // Q K^T and P V: 4 N T^2 D multiply-adds' FLOPs, about half of them under a causal mask.
        public OpCost Cost => new(4 * AttentionPairs(s) * s.Width, 4.0 * (qkv.Length + y.Length + lse.Length));
    }

    private readonly unsafe struct AttentionBackwardOp(Tensor qkv, Tensor y, Tensor dy, Tensor lse, Tensor delta, Tensor dqkv, AttentionShape s) : IDeviceOp
    {
        public void RunOnHost(HostBackend host)
        {
            fixed (float* q = qkv.HostSpan, o = y.HostSpan, g = dy.HostSpan, l = lse.HostSpan, dq = dqkv.HostSpan)
                HostAttention.Backward(q, o, g, l, dq, s);
        }

        // Q K^T again (P from the saved log-sum-exp), dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: 2.5 forwards.
        public OpCost Cost => new(10 * AttentionPairs(s) * s.Width, 4.0 * (2 * qkv.Length + 2 * y.Length + lse.Length));

        public void RunOnKernels(KernelBackend k)
        {
            int rows = delta.Length, threads = k.Geometry.Threads(rows);
            k.Kernels.Launch(AttentionKernels.BackwardDelta, k.Stream, threads, y.Flat, dy.Flat, delta.Flat, s, rows, threads);
            var groups = AttentionGroups(k, s);
            k.Kernels.LaunchGrouped(AttentionKernels.BackwardKeys, k.Stream, groups, qkv.Flat, dy.Flat, lse.Flat, delta.Flat, dqkv.Flat, s);
            k.Kernels.LaunchGrouped(AttentionKernels.BackwardQueries, k.Stream, groups, qkv.Flat, dy.Flat, lse.Flat, delta.Flat, dqkv.Flat, s);
        }
    }
}
