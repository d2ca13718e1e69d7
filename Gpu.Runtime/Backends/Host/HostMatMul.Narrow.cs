using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Narrow products (many rows, a few columns: an MLP's narrow layers at a large batch, a
/// regression head) with rows on the vector lanes: a block of 16 rows of A is transposed so that
/// each k is one 512-bit vector, and each column of C is one accumulator, fed per k by that vector
/// and a broadcast of B[k, j]. The blocked kernels put columns on the lanes, so with one column
/// they ran one useful lane in 16 (or went through the transposed product, which packs all of A
/// and transposes C back).
/// Each output is still the sum over k in order, slice by slice, added to the bias and the old C
/// in the blocked kernels' order, so the bits are theirs.
/// </summary>
internal static unsafe partial class HostMatMul
{
    // Rows of C on the lanes of one vector; columns a pass keeps in accumulators (B is padded
    // with zeros to a multiple of it: eight independent FMA chains cover the FMA latency even
    // with one column); rows per unit of work over the cores.
    internal const int NarrowRows = 16;
    internal const int NarrowColumns = 8;
    private const int NarrowUnitRows = 256;

    // Over the cores from four units (1,024 rows) and 2.5 x 10^5 multiply-adds counting B's
    // padding, measured on two cores: 4,096 x 1 x 20 1.6x faster than on one, 1,024 x 4 x 20 1.5x;
    // with two units (512 x 8 x 64) the loop's start cost what the second core saved.
    private const int NarrowParallelUnits = 4;
    private const double NarrowParallelFlops = 2.5e5;

    // The products that take this kernel, measured against the blocked and transposed ones in one
    // process on two cores: up to 8 columns, 0.43-0.87x their time (512 x 1 x 1,024: 0.33x;
    // 4,096 x 4 x 1,024: 0.51x; 64 x 4 x 64: 0.61-0.68x; 4,096 x 1 x 20: 0.74x TN, 0.95x NN, where
    // transposing A is most of the work). With 9-24 columns from 1,024 rows, 0.37-1.0x
    // (4,096 x 20 x 10: 0.37-0.45x; 4,096 x 10 x 20: 0.70x; 4,096 x 24 x 64: 0.60-0.85x;
    // 4,096 x 16 x 1,024: 0.66-0.77x; 1,024 x 20 x 20: 1.0x); with fewer rows the 6 x 16 blocks
    // were faster (512 x 16 x 256: 1.14-1.28x, 128 x 16 x 64: 1.1-1.25x), and so were the 6 x 32
    // ones with 32 columns (4,096 x 32 x 32 NT: 1.37x).
    // As for the other 512-bit kernels, only from WideFlops multiply-adds (B's padding counted):
    // the reference example's 100 x 1 x 20 product made its training step 5% slower on the
    // narrow kernel, the 512-bit unit woken for one small product in a step of 256-bit ops.
    private static bool Narrow(MatMulShape s) =>
        Vector512.IsHardwareAccelerated && (s.N <= NarrowColumns || (s.N <= 3 * NarrowColumns && s.M >= 1024))
        && (double)s.M * NarrowPitch(s.N) * s.K >= WideFlops;

    internal static int NarrowPitch(int columns) => (columns + NarrowColumns - 1) / NarrowColumns * NarrowColumns;

    /// <summary>
    /// B for <see cref="AccumulateNarrow"/>: <paramref name="depth"/> rows of <paramref name="pitch"/>
    /// floats, target[k pitch + j] = b[k rowStride + j columnStride] for j &lt; columns, zero past them.
    /// </summary>
    internal static void PackNarrowB(float* b, long rowStride, long columnStride, int depth, int columns, int pitch, float* target)
    {
        for (int k = 0; k < depth; k++)
        {
            float* row = target + (long)k * pitch;
            for (int j = 0; j < pitch; j++)
                row[j] = j < columns ? b[k * rowStride + j * columnStride] : 0f;
        }
    }

    [ThreadStatic]
    private static HostScratch? narrowScratch;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunNarrow(float* a, float* b, float* c, float* bias, MatMulShape s, bool mayParallelise, bool relu)
    {
        if (s.M == 0 || s.N == 0)
            return;
        int pitch = NarrowPitch(s.N);
        var scratch = HostScratch.Rent(ref narrowScratch, (long)Math.Max(s.K, 1) * pitch, MaxKeptFloats);
        try
        {
            float* packedB = scratch.Start;
            PackNarrowB(b, s.BRowStride, s.BColStride, s.K, s.N, pitch, packedB);

            var job = new NarrowJob(a, packedB, pitch, c, bias, s, relu);
            int units = (s.M + NarrowUnitRows - 1) / NarrowUnitRows;
            if (mayParallelise && HostThreads.Count > 1 && units >= NarrowParallelUnits && 2.0 * s.M * pitch * s.K >= NarrowParallelFlops)
                HostThreads.For(units, job.Unit);
            else
                for (int unit = 0; unit < units; unit++)
                    job.Unit(unit);
        }
        finally
        {
            HostScratch.Return(narrowScratch, scratch);
        }
    }

    // Eight columns of C over 16 rows: sums[jj * 16 + i] = sum over kk of A[i, kk] B[kk, jj].
    // The loop alone, never inlined, like the other kernels (see AccumulateRows). The convolution's
    // forward on lanes uses it too (HostConvolution.Lanes.cs).
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void AccumulateNarrow(float* columnsOfA, float* bp, int pitch, int depth, float* sums)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int kk = 0; kk < depth; kk++, columnsOfA += NarrowRows, bp += pitch)
        {
            var x = Vector512.Load(columnsOfA);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[0]), x, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[1]), x, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[2]), x, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[3]), x, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[4]), x, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[5]), x, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[6]), x, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(bp[7]), x, c7);
        }

        c0.Store(sums);
        c1.Store(sums + NarrowRows);
        c2.Store(sums + 2 * NarrowRows);
        c3.Store(sums + 3 * NarrowRows);
        c4.Store(sums + 4 * NarrowRows);
        c5.Store(sums + 5 * NarrowRows);
        c6.Store(sums + 6 * NarrowRows);
        c7.Store(sums + 7 * NarrowRows);
    }

    private readonly struct NarrowJob(float* a, float* packedB, int pitch, float* c, float* bias, MatMulShape s, bool relu)
    {
        private readonly bool relu = relu;
        private readonly float* a = a, packedB = packedB, c = c, bias = bias;
        private readonly int pitch = pitch;
        private readonly MatMulShape s = s;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Unit(int unit)
        {
            // A block's A^T over one slice of K (8 KiB) and a pass's sums, on 64-byte boundaries.
            float* columnsOfA = stackalloc float[DepthBlock * NarrowRows + 16];
            float* sumsStorage = stackalloc float[3 * NarrowColumns * NarrowRows + 32];
            columnsOfA = (float*)(((nint)columnsOfA + 63) & ~(nint)63);
            float* sums = (float*)(((nint)sumsStorage + 63) & ~(nint)63);
            float* rowsOfSums = sums + NarrowColumns * NarrowRows; // and a compacted copy after it (StoreNarrow)
            int end = Math.Min(s.M, (unit + 1) * NarrowUnitRows);
            for (int row = unit * NarrowUnitRows; row < end; row += NarrowRows)
            {
                int rows = Math.Min(NarrowRows, s.M - row);
                // K = 0 still takes one empty slice, which writes the bias (and old C).
                for (int k0 = 0; k0 < Math.Max(s.K, 1); k0 += DepthBlock)
                {
                    int depth = Math.Min(DepthBlock, s.K - k0);
                    TransposeBlock(row, rows, k0, depth, columnsOfA);
                    for (int j0 = 0; j0 < s.N; j0 += NarrowColumns)
                    {
                        AccumulateNarrow(columnsOfA, packedB + (long)k0 * pitch + j0, pitch, depth, sums);
                        StoreNarrow(sums, rowsOfSums, row, rows, j0, k0 == 0);
                    }
                }

                if (relu)
                    ReluRows(c, s.N, row, rows, 0, s.N);
            }
        }

        // target[kk * 16 + i] = A[row + i, k0 + kk]; lanes past the block's last row are zero.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TransposeBlock(int row, int rows, int k0, int depth, float* target)
        {
            long rowStride = s.ARowStride, columnStride = s.AColStride;
            float* first = a + row * rowStride + k0 * columnStride;
            if (rows == NarrowRows && rowStride == 1)
            {
                // TN: A stored (K, M), the 16 rows of a k are contiguous.
                for (int kk = 0; kk < depth; kk++)
                    Vector512.Load(first + kk * columnStride).Store(target + kk * NarrowRows);
                return;
            }

            int kk0 = 0;
            if (rows == NarrowRows && columnStride == 1 && Avx.IsSupported)
            {
                // NN, NT: A's rows are contiguous in k; two 8 x 8 blocks per 8 of K.
                for (; kk0 + 8 <= depth; kk0 += 8)
                {
                    HostTranspose.Block8x8(first + kk0, rowStride, target + kk0 * NarrowRows, NarrowRows);
                    HostTranspose.Block8x8(first + 8 * rowStride + kk0, rowStride, target + kk0 * NarrowRows + 8, NarrowRows);
                }

                if (kk0 < depth)
                {
                    // The last depth % 8 of K: each row's rest, masked (zero past it), into a 16 x 8
                    // tile, then transposed like the rest. The k-rows it writes past depth (at most
                    // up to 128) are never read. Element by element, 4,096 x 1 x 20 took 1.22x as
                    // long and 4,096 x 10 x 20 1.16x (one process, two cores).
                    var mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(depth - kk0)).AsSingle();
                    float* tile = stackalloc float[NarrowRows * 8];
                    for (int i = 0; i < NarrowRows; i++)
                        Avx.MaskLoad(first + i * rowStride + kk0, mask).Store(tile + i * 8);
                    HostTranspose.Block8x8(tile, 8, target + kk0 * NarrowRows, NarrowRows);
                    HostTranspose.Block8x8(tile + 64, 8, target + kk0 * NarrowRows + 8, NarrowRows);
                    return;
                }
            }

            for (int kk = kk0; kk < depth; kk++)
            {
                for (int i = 0; i < NarrowRows; i++)
                    target[kk * NarrowRows + i] = i < rows ? first[i * rowStride + kk * columnStride] : 0f;
            }
        }

        // C[row + i, j0 + jj] from sums[jj * 16 + i], as StoreBlock adds them: the first slice's
        // (sum + bias) + old C, later slices' sum + C. A single column of 16 rows is one vector of C.
        // Otherwise the eight columns are turned into rows with two 8 x 8 transposes
        // (rowsOfSums[i * 8 + jj]). Eight columns are stored a row at a time. Fewer than eight that
        // end C's rows (N < 8: the block is 16 N contiguous floats of C) are compacted to N floats
        // a row and stored as whole vectors; row by row, or element by element, the masked
        // loads of one row met the stores of the row before (4,096 x 4 x 64 took 1.3x the time of
        // 4,096 x 8 x 64). The last pass of a wider C is masked per row; partial blocks go element
        // by element.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StoreNarrow(float* sums, float* rowsOfSums, int row, int rows, int j0, bool firstSlice)
        {
            int columns = Math.Min(NarrowColumns, s.N - j0);
            bool addOld = !firstSlice || s.Accumulate != 0;
            bool addBias = firstSlice && s.HasBias != 0;
            long n = s.N;
            float* target = c + row * n + j0;
            if (rows == NarrowRows && n == 1)
            {
                var value = Vector512.Load(sums);
                if (addBias)
                    value += Vector512.Create(bias[0]);
                if (addOld)
                    value += Vector512.Load(target);
                value.Store(target);
                return;
            }

            if (rows == NarrowRows && Avx.IsSupported)
            {
                HostTranspose.Block8x8(sums, NarrowRows, rowsOfSums, NarrowColumns);
                HostTranspose.Block8x8(sums + 8, NarrowRows, rowsOfSums + 8 * NarrowColumns, NarrowColumns);
                var mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(columns)).AsSingle();
                var biasVector = addBias ? Avx.MaskLoad(bias + j0, mask) : default;
                if (columns == n && columns < NarrowColumns)
                {
                    // Each row's 8-float store runs into the next row's place, which that row's
                    // store then overwrites.
                    float* compact = rowsOfSums + NarrowColumns * NarrowRows;
                    for (int i = 0; i < NarrowRows; i++)
                    {
                        var rowValue = Vector256.Load(rowsOfSums + i * NarrowColumns);
                        if (addBias)
                            rowValue += biasVector;
                        rowValue.Store(compact + i * columns);
                    }

                    for (int t = 0; t < NarrowRows * columns; t += NarrowRows, target += NarrowRows)
                    {
                        var value = Vector512.Load(compact + t);
                        if (addOld)
                            value += Vector512.Load(target);
                        value.Store(target);
                    }

                    return;
                }

                for (int i = 0; i < NarrowRows; i++, target += n)
                {
                    var value = Vector256.Load(rowsOfSums + i * NarrowColumns);
                    if (addBias)
                        value += biasVector;
                    if (columns == NarrowColumns)
                    {
                        if (addOld)
                            value += Vector256.Load(target);
                        value.Store(target);
                    }
                    else
                    {
                        if (addOld)
                            value += Avx.MaskLoad(target, mask);
                        Avx.MaskStore(target, mask, value);
                    }
                }

                return;
            }

            for (int i = 0; i < rows; i++, target += n)
            {
                for (int jj = 0; jj < columns; jj++)
                {
                    float value = sums[jj * NarrowRows + i];
                    if (addBias)
                        value += bias[j0 + jj];
                    if (addOld)
                        value += target[jj];
                    target[jj] = value;
                }
            }
        }
    }
}
