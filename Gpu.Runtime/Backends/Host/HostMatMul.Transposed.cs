using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Tall, skinny products (many rows, few columns: an MLP's narrow layers at a large batch) run as
/// their transpose, C^T = B^T A^T, whose few rows become the blocked kernels' bands and whose many
/// columns their panels, then are transposed back. Run directly, a 4,096 x 20 x 10 Linear made
/// 683 bands x 2 panels of 10-deep calls and spent most of its time between them. (Up to 8
/// columns, or 24 from 1,024 rows, the narrow kernel takes them first: HostMatMul.Narrow.cs.)
/// Short, wide products (up to 8 rows) run transposed on the narrow kernel.
/// The bits are the direct product's: C^T starts as the bias (a row per column of C) or the old
/// C, and the kernels add each slice's sum to it in the same order (x + y = y + x exactly).
/// </summary>
internal static unsafe partial class HostMatMul
{
    // The shapes that take this path, measured against the direct kernels in one process (two
    // cores). It packs A as the transposed product's B (or, on the narrow kernel, reads it as its
    // A), and transposes C^T back:
    // - A stored (K, M) (dY^T in a weight gradient), up to 16 columns: 1.1-2.2x faster
    //   (4,096 x 10 x 20: 2.2x, 1,024 x 16 x 300: 1.4x). The direct path packs that A by strides.
    // - A stored (M, K), up to 10 columns and K up to 32: 1.2-1.5x faster (4,096 x 1 x 20: 1.26x,
    //   4,096 x 10 x 20: 1.24x, 2,048 x 4 x 40: 1.4x). The direct path leaves most of a 16-column
    //   panel empty; with 16 columns, or a longer K, the packing of A costs more than that
    //   (4,096 x 16 x 24: 0.58x, 4,096 x 10 x 48: 1.0x).
    // Both a bias and an old C would need two additions after the sums: such products run directly.
    // - Up to 8 rows, on the narrow kernel (the transpose has up to 8 columns): a weight gradient
    //   dY^T X of a layer with few outputs. Against the direct 6-row bands, which leave most of a
    //   band empty: 1 x 1,024 x 1,024 0.45-0.51x the time, 1 x 256 x 256 0.76x, 2 x 1,000 x 50
    //   0.77-0.79x, 4 x 1,024 x 64 0.76-0.81x, 8 x 64 x 64 0.86x; but 4 x 256 x 512 1.22x,
    //   8 x 512 x 512 0.91-1.05x and 1 x 20 x 100 1.5x (2.4 against 1.6 µs), hence the rule.
    private static bool Transposed(MatMulShape s)
    {
        if (s.HasBias != 0 && s.Accumulate != 0)
            return false;
        if (s.N >= 64 && (s.M <= 2 || s.K <= 64) && s.M <= NarrowColumns && Narrow(TransposedShape(s)))
            return true;
        return s.AColStride != 1
            ? s.N <= 16 && s.M >= 256
            : s.N <= 10 && s.K <= 32 && s.M >= 512;
    }

    // The product C^T = B^T A^T: A' = B^T (N, K), A'[n, k] = B[k, n]; B' = A^T (K, M),
    // B'[k, m] = A[m, k]; C^T starts as the bias or the old C, so it accumulates.
    private static MatMulShape TransposedShape(MatMulShape s) => new()
    {
        M = s.N,
        N = s.M,
        K = s.K,
        ARowStride = s.BColStride,
        AColStride = s.BRowStride,
        BRowStride = s.AColStride,
        BColStride = s.ARowStride,
        HasBias = 0,
        Accumulate = s.HasBias != 0 || s.Accumulate != 0 ? 1 : 0,
        TransposeA = 1 - s.TransposeB,
        TransposeB = 1 - s.TransposeA,
    };

    [ThreadStatic]
    private static HostScratch? transposedScratch;

    private static void RunTransposed(float* a, float* b, float* c, float* bias, MatMulShape s, bool mayParallelise, bool relu)
    {
        if (s.M == 0 || s.N == 0)
            return;
        var scratch = HostScratch.Rent(ref transposedScratch, (long)s.N * s.M, MaxKeptFloats);
        try
        {
            // C^T (N, M), row n starting as bias[n] or as column n of the old C.
            float* ct = scratch.Start;
            if (s.HasBias != 0)
            {
                for (int n = 0; n < s.N; n++)
                    new Span<float>(ct + (long)n * s.M, s.M).Fill(bias[n]);
            }
            else if (s.Accumulate != 0)
            {
                HostTranspose.Matrix(c, s.M, s.N, s.N, ct, s.M);
            }

            var transposed = TransposedShape(s);
            Run(Narrow(transposed) ? Kernel.Narrow : ChooseBlocked(transposed), b, a, ct, null, transposed, default, mayParallelise, relu: false);
            HostTranspose.Matrix(ct, s.N, s.M, s.M, c, s.N);
            if (relu)
                ReluRows(c, s.N, 0, s.M, 0, s.N);
        }
        finally
        {
            HostScratch.Return(transposedScratch, scratch);
        }
    }
}
