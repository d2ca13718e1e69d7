using System.Buffers;
using System.Numerics;
using Gpu.Kernels;

namespace Gpu.Runtime.Host;

/// <summary>
/// The host fast path's matrix product: <c>C = op(A) op(B) (+ C) (+ bias)</c> with
/// <see cref="Vector{T}"/> (AVX2: 8 floats) fused multiply-adds. op(B) is first brought to
/// k-major rows (a copy only for the NT form, whose B is a small weight matrix), then each band of
/// four rows of C is computed in blocks of 4 x 2 vectors held in registers: per k, two vector loads
/// of B and four broadcasts of A feed eight FMAs. Rows are taken 64 at a time and K 256 at a time
/// so that B's panel stays in cache. Large products split the row blocks over cores
/// (Parallel.For); every output is summed over k in order by one thread, so results are
/// deterministic.
/// </summary>
internal static unsafe class HostMatMul
{
    private const double ParallelFlops = 2e6;

    // Cache blocking: a thread takes 64 rows of C at a time and walks K in slices of 256, so the
    // 256 x 16 panel of B behind one block of columns (16 KiB) stays in L1 while the 16 bands of
    // the row block reuse it, instead of streaming all of B from memory once per band.
    private const int RowBlockSize = 64;
    private const int DepthBlock = 256;

    public static void Run(float* a, float* b, float* c, float* bias, MatMulShape s)
    {
        int m = s.M, n = s.N, k = s.K;
        float[]? transposed = null;
        try
        {
            float* bRows = b;
            if (s.BColStride != 1 && k > 0)
            {
                // NT: B is stored (n, k); make it (k, n).
                transposed = ArrayPool<float>.Shared.Rent(k * n);
                fixed (float* t = transposed)
                {
                    for (int j = 0; j < n; j++)
                        for (int kk = 0; kk < k; kk++)
                            t[kk * n + j] = b[j * k + kk];
                }
            }

            fixed (float* t = transposed)
            {
                if (transposed is not null)
                    bRows = t;
                int blocks = (m + RowBlockSize - 1) / RowBlockSize;
                var job = new Job(a, bRows, c, bias, s);
                if (2.0 * m * n * k >= ParallelFlops && blocks > 1)
                    Parallel.For(0, blocks, job.RowBlock);
                else
                    for (int block = 0; block < blocks; block++)
                        job.RowBlock(block);
            }
        }
        finally
        {
            if (transposed is not null)
                ArrayPool<float>.Shared.Return(transposed);
        }
    }

    private readonly struct Job(float* a, float* b, float* c, float* bias, MatMulShape s)
    {
        private readonly float* a = a, b = b, c = c, bias = bias;
        private readonly MatMulShape s = s;

        public void RowBlock(int block)
        {
            int firstBand = block * RowBlockSize / 4;
            int endBand = (Math.Min((block + 1) * RowBlockSize, s.M) + 3) / 4;
            int k = s.K;
            int chunk = 2 * Vector<float>.Count;
            int vectorColumns = s.N / chunk * chunk;
            // Slices of K outside, column chunks, then bands: the 256 x 16 panel of B stays in L1
            // across the bands, the 64 x 256 block of A in L2 across the column chunks.
            for (int k0 = 0; k0 < Math.Max(k, 1); k0 += DepthBlock)
            {
                int depth = Math.Min(DepthBlock, k - k0);
                for (int j = 0; j < vectorColumns; j += chunk)
                {
                    for (int band = firstBand; band < endBand; band++)
                        Tile(band, j, k0, depth);
                }
            }

            for (int band = firstBand; band < endBand; band++)
                LeftoverColumns(band, vectorColumns);
        }

        // C[4 band .. 4 band + 4, j .. j + 16) over k in [k0, k0 + depth): the first slice writes C
        // (with the bias and, when accumulating, the old C), later slices add to it.
        private void Tile(int band, int j, int k0, int depth)
        {
            int m = s.M, n = s.N;
            int i0 = band * 4;
            int rows = Math.Min(4, m - i0);
            bool first = k0 == 0;
            int aStep = s.AColStride;
            // Rows past the end repeat the last row; their results are not stored.
            long aStart = (long)k0 * aStep;
            float* a0 = a + (long)Math.Min(i0, m - 1) * s.ARowStride + aStart;
            float* a1 = a + (long)Math.Min(i0 + 1, m - 1) * s.ARowStride + aStart;
            float* a2 = a + (long)Math.Min(i0 + 2, m - 1) * s.ARowStride + aStart;
            float* a3 = a + (long)Math.Min(i0 + 3, m - 1) * s.ARowStride + aStart;
            int width = Vector<float>.Count;
            Vector<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector<float> c20 = default, c21 = default, c30 = default, c31 = default;
            float* bk = b + (long)k0 * n + j;
            long ak = 0;
            for (int kk = 0; kk < depth; kk++, bk += n, ak += aStep)
            {
                var b0 = *(Vector<float>*)bk;
                var b1 = *(Vector<float>*)(bk + width);
                var x0 = new Vector<float>(a0[ak]);
                var x1 = new Vector<float>(a1[ak]);
                var x2 = new Vector<float>(a2[ak]);
                var x3 = new Vector<float>(a3[ak]);
                c00 = Vector.FusedMultiplyAdd(x0, b0, c00);
                c01 = Vector.FusedMultiplyAdd(x0, b1, c01);
                c10 = Vector.FusedMultiplyAdd(x1, b0, c10);
                c11 = Vector.FusedMultiplyAdd(x1, b1, c11);
                c20 = Vector.FusedMultiplyAdd(x2, b0, c20);
                c21 = Vector.FusedMultiplyAdd(x2, b1, c21);
                c30 = Vector.FusedMultiplyAdd(x3, b0, c30);
                c31 = Vector.FusedMultiplyAdd(x3, b1, c31);
            }

            Store(i0, j, c00, c01, first);
            if (rows > 1)
                Store(i0 + 1, j, c10, c11, first);
            if (rows > 2)
                Store(i0 + 2, j, c20, c21, first);
            if (rows > 3)
                Store(i0 + 3, j, c30, c31, first);
        }

        // Columns past the last whole chunk of 16: one dot product per element over all of K.
        private void LeftoverColumns(int band, int from)
        {
            int i0 = band * 4;
            int rows = Math.Min(4, s.M - i0);
            for (int j = from; j < s.N; j++)
            {
                for (int r = 0; r < rows; r++)
                {
                    float* ar = a + (long)(i0 + r) * s.ARowStride;
                    float sum = 0f;
                    for (int kk = 0; kk < s.K; kk++)
                        sum += ar[(long)kk * s.AColStride] * b[(long)kk * s.N + j];
                    StoreOne(i0 + r, j, sum);
                }
            }
        }

        private void Store(int row, int column, Vector<float> first, Vector<float> second, bool firstSlice)
        {
            int width = Vector<float>.Count;
            float* target = c + (long)row * s.N + column;
            if (firstSlice && s.HasBias != 0)
            {
                first += *(Vector<float>*)(bias + column);
                second += *(Vector<float>*)(bias + column + width);
            }

            if (!firstSlice || s.Accumulate != 0)
            {
                first += *(Vector<float>*)target;
                second += *(Vector<float>*)(target + width);
            }

            *(Vector<float>*)target = first;
            *(Vector<float>*)(target + width) = second;
        }

        private void StoreOne(int row, int column, float sum)
        {
            float* target = c + (long)row * s.N + column;
            if (s.HasBias != 0)
                sum += bias[column];
            if (s.Accumulate != 0)
                sum += *target;
            *target = sum;
        }
    }
}
