using System.Numerics.Tensors;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Multi-head self-attention on the host path, one (sample, head) per core at a time. A head's q, k
/// and v are copied out of the (N, T, 3D) projection into contiguous (T, d) blocks, then the queries
/// go by blocks of <see cref="BlockRows"/> rows: the block's scores against the keys it sees (one
/// GEMM), an exact softmax per row, the block's output (one GEMM). The largest buffer is one block's
/// scores, <see cref="BlockRows"/> x T: O(T) per head, never T x T. Backward recomputes each block's
/// weights from the saved log-sum-exp (as the kernels do) and accumulates dk and dv over the blocks in
/// order, so results do not depend on the number of cores. Causal blocks stop at their last row's key.
/// </summary>
internal static unsafe class HostAttention
{
    // Query rows per block: a 64 x T block of scores and the GEMMs' 6-row micro-kernels fit well.
    private const int BlockRows = 64;

    [ThreadStatic]
    private static HostScratch? scratch;

    public static void Forward(float* qkv, float* y, float* lse, AttentionShape s) =>
        HostThreads.For(s.Batch * s.Heads, unit => ForwardHead(qkv, y, lse, s, unit / s.Heads, unit % s.Heads));

    public static void Backward(float* qkv, float* y, float* dy, float* lse, float* dqkv, AttentionShape s) =>
        HostThreads.For(s.Batch * s.Heads, unit => BackwardHead(qkv, y, dy, lse, dqkv, s, unit / s.Heads, unit % s.Heads));

    private static void ForwardHead(float* qkv, float* y, float* lse, AttentionShape s, int n, int h)
    {
        int t = s.Steps, d = s.HeadDim;
        float* q = HostScratch.Get(ref scratch, 3L * t * d + (long)BlockRows * t + (long)BlockRows * d);
        float* k = q + (long)t * d, v = k + (long)t * d, scores = v + (long)t * d, output = scores + (long)BlockRows * t;
        CopyHead(qkv, q, k, v, s, n, h);
        float* rowLse = lse + (long)(n * s.Heads + h) * t;
        for (int r0 = 0; r0 < t; r0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, t - r0), seen = s.Causal != 0 ? r0 + rows : t;
            HostMatMul.Run(q + (long)r0 * d, k, scores, null, MatMulShape.Create(rows, seen, d, false, true, false, false), mayParallelise: false);
            for (int r = 0; r < rows; r++)
            {
                int i = r0 + r;
                var row = new Span<float>(scores + (long)r * seen, seen);
                rowLse[i] = Softmax(row[..s.KeysSeen(i)], s.Scale);
                row[s.KeysSeen(i)..].Clear();
                if (s.DropThreshold != 0)
                    ApplyDropout(row, s, n, h, i);
            }

            HostMatMul.Run(scores, v, output, null, MatMulShape.Create(rows, d, seen, false, false, false, false), mayParallelise: false);
            for (int r = 0; r < rows; r++)
                new Span<float>(output + (long)r * d, d).CopyTo(new Span<float>(y + s.OutputOffset(n, r0 + r, h), d));
        }
    }

    private static void BackwardHead(float* qkv, float* y, float* dy, float* lse, float* dqkv, AttentionShape s, int n, int h)
    {
        int t = s.Steps, d = s.HeadDim;
        long head = (long)t * d, block = (long)BlockRows * t;
        float* q = HostScratch.Get(ref scratch, 7 * head + 3 * block + BlockRows);
        float* k = q + head, v = k + head, g = v + head, dq = g + head, dk = dq + head, dv = dk + head;
        float* weights = dv + head, dropped = weights + block, dp = dropped + block, delta = dp + block;
        CopyHead(qkv, q, k, v, s, n, h);
        for (int i = 0; i < t; i++)
            new Span<float>(dy + s.OutputOffset(n, i, h), d).CopyTo(new Span<float>(g + (long)i * d, d));
        new Span<float>(dk, (int)(2 * head)).Clear();
        float* rowLse = lse + (long)(n * s.Heads + h) * t;
        for (int r0 = 0; r0 < t; r0 += BlockRows)
        {
            int rows = Math.Min(BlockRows, t - r0), seen = s.Causal != 0 ? r0 + rows : t;
            // P, recomputed from the saved log-sum-exp; with dropout also P times the mask.
            HostMatMul.Run(q + (long)r0 * d, k, weights, null, MatMulShape.Create(rows, seen, d, false, true, false, false), mayParallelise: false);
            float* used = s.DropThreshold != 0 ? dropped : weights;
            for (int r = 0; r < rows; r++)
            {
                int i = r0 + r;
                var row = new Span<float>(weights + (long)r * seen, seen);
                int keys = s.KeysSeen(i);
                var live = row[..keys];
                TensorPrimitives.Multiply(live, s.Scale, live);
                TensorPrimitives.Subtract(live, rowLse[i], live);
                TensorPrimitives.Exp(live, live);
                row[keys..].Clear();
                if (s.DropThreshold != 0)
                {
                    row.CopyTo(new Span<float>(dropped + (long)r * seen, seen));
                    ApplyDropout(new Span<float>(dropped + (long)r * seen, seen), s, n, h, i);
                }

                var output = new ReadOnlySpan<float>(y + s.OutputOffset(n, i, h), d);
                delta[r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(g + (long)i * d, d), output);
            }

            // dv += (P . mask)^T dy;  dP = dy v^T
            HostMatMul.Run(used, g + (long)r0 * d, dv, null, MatMulShape.Create(seen, d, rows, true, false, false, true), mayParallelise: false);
            HostMatMul.Run(g + (long)r0 * d, v, dp, null, MatMulShape.Create(rows, seen, d, false, true, false, false), mayParallelise: false);
            // dS = P (dP . mask - delta) scale, in place of dP
            for (int r = 0; r < rows; r++)
            {
                int i = r0 + r;
                var p = new ReadOnlySpan<float>(weights + (long)r * seen, seen);
                var ds = new Span<float>(dp + (long)r * seen, seen);
                if (s.DropThreshold != 0)
                {
                    for (int j = 0; j < seen; j++)
                        ds[j] *= s.Keep(n, h, i, j);
                }

                TensorPrimitives.Subtract(ds, delta[r], ds);
                TensorPrimitives.Multiply(ds, p, ds);
                TensorPrimitives.Multiply(ds, s.Scale, ds);
            }

            // dq (this block's rows) = dS k;  dk += dS^T q
            HostMatMul.Run(dp, k, dq + (long)r0 * d, null, MatMulShape.Create(rows, d, seen, false, false, false, false), mayParallelise: false);
            HostMatMul.Run(dp, q + (long)r0 * d, dk, null, MatMulShape.Create(seen, d, rows, true, false, false, true), mayParallelise: false);
        }

        for (int i = 0; i < t; i++)
        {
            new Span<float>(dq + (long)i * d, d).CopyTo(new Span<float>(dqkv + s.Offset(n, i, 0, h), d));
            new Span<float>(dk + (long)i * d, d).CopyTo(new Span<float>(dqkv + s.Offset(n, i, 1, h), d));
            new Span<float>(dv + (long)i * d, d).CopyTo(new Span<float>(dqkv + s.Offset(n, i, 2, h), d));
        }
    }

    // Head h's q, k and v rows of sample n, each into a contiguous (T, d) block.
    private static void CopyHead(float* qkv, float* q, float* k, float* v, AttentionShape s, int n, int h)
    {
        int d = s.HeadDim;
        for (int i = 0; i < s.Steps; i++)
        {
            new Span<float>(qkv + s.Offset(n, i, 0, h), d).CopyTo(new Span<float>(q + (long)i * d, d));
            new Span<float>(qkv + s.Offset(n, i, 1, h), d).CopyTo(new Span<float>(k + (long)i * d, d));
            new Span<float>(qkv + s.Offset(n, i, 2, h), d).CopyTo(new Span<float>(v + (long)i * d, d));
        }
    }

    // softmax(row scale) in place; returns the log-sum-exp of the scaled row.
    private static float Softmax(Span<float> row, float scale)
    {
        TensorPrimitives.Multiply(row, scale, row);
        float max = TensorPrimitives.Max(row);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        float sum = TensorPrimitives.Sum(row);
        TensorPrimitives.Multiply(row, 1f / sum, row);
        return max + MathF.Log(sum);
    }

    private static void ApplyDropout(Span<float> row, AttentionShape s, int n, int h, int i)
    {
        for (int j = 0; j < row.Length; j++)
            row[j] *= s.Keep(n, h, i, j);
    }
}
