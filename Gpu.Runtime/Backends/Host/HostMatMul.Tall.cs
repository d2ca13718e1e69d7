using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The host GEMM's tall kernel, for large products on AVX-512: a block of 24 rows by one 512-bit
/// vector (16 columns) of C in 24 registers, fed per k by one load of B and 24 broadcasts of A.
/// The roles of the caches turn around from the 6 x 64 kernel: there a 32 KiB panel of B stays in
/// L1 while bands of A stream past it, and every panel of B comes back from L3 for each block of
/// rows; here a band of A (24 rows x 256 of K, packed k-major, 24 KiB) stays in L1 while the
/// panels of two 128-deep slices of B (1 MiB for 1,024 columns) stream from L2, 64 bytes per k.
/// A is always packed (8 x 8 transposes in NN and NT, copies in TN), once per block of rows and
/// pair of slices of K. Each output is still summed over k in the same order, slice by slice, so
/// the bits equal the other kernels'. Measured call against call in one process, the same work with the
/// loops of the 6 x 64 kernel took 1.10x this one's time at 1024³.
/// </summary>
internal static unsafe partial class HostMatMul
{
    private const int TallRows = 24;
    // B streams from L2 through the kernel, a line per k: a software prefetch 8 lines ahead was
    // 1-2% faster at 512-1024³ (4 or 16 lines ahead the same).
    private const int PrefetchFloats = 16 * 8;

    // Products large enough for the tall kernel. Measured call against call in one process: from
    // 512³ it is 4-11% faster; at 256³ even on one core and up to 17% slower on two; with 128 rows
    // 8% slower (a sixth of the last band is padding), and with fewer than 256 columns packing A
    // costs more than it saves in NN (it is packed once per slice for all the columns).
    private static bool Tall(MatMulShape s) =>
        s.M >= TallMinimum && s.N >= TallMinimum && (double)s.M * s.N * s.K >= TallFlops;

    private const int TallMinimum = 256;
    private const double TallFlops = 256 * 512 * 512;

    // 24 rows of one 512-bit vector; panels of B 16 columns wide, 64 to a unit.
    private readonly struct TallByOne : IBlockShape
    {
        public static int PanelVectors => 1;

        public static int BandRows => TallRows;

        public static int GroupPanels => 64;
    }

    private readonly partial struct Job<TVector, TLanes>
    {
        // Rows [firstRow, firstRow + rows) of C against panels [firstPanel, endPanel): per pair of
        // slices of K, pack the rows' A for both, then run each 24-row band across the panels, a
        // slice at a time, and store the pair into C together (StoreTallPair). C is then read and
        // written once per 256 of K instead of once per 128: 2-5% of a 1024³ product on one core,
        // 0.5-1% at 512³ (measured in one process). One 256-deep slice was 0.5-2% faster still but
        // would round differently from the other kernels; the pair keeps their bits. Three slices
        // (or 384-512 deep) were slower: B's slices for 1,024 columns no longer stay in a 2 MiB L2.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TallBlock(int firstRow, int rows, int bands, int firstPanel, int endPanel)
        {
            int k = s.K;
            var packedA = HostScratch.Rent(ref packedAScratch, bands * TallRows * Math.Max(Math.Min(2 * DepthBlock, k), 1), MaxKeptFloats);
            try
            {
                float* ap = packedA.Start;
                // K = 0 still takes one empty slice, which writes the bias (and old C).
                for (int k0 = 0; k0 < Math.Max(k, 1); k0 += 2 * DepthBlock)
                {
                    int depth = Math.Min(DepthBlock, k - k0);
                    int laterDepth = Math.Clamp(k - k0 - DepthBlock, 0, DepthBlock);
                    int pairDepth = depth + laterDepth;
                    PackTallA(ap, firstRow, rows, k0, pairDepth);
                    for (int band = 0; band < bands; band++)
                    {
                        int row = firstRow + band * TallRows;
                        int bandRows = Math.Min(TallRows, s.M - row);
                        float* aBand = ap + (long)band * TallRows * pairDepth;
                        for (int panel = firstPanel; panel < endPanel; panel++)
                        {
                            Block<TVector> block, later;
                            AccumulateTall(aBand, PanelStart(k0, depth, panel), depth, &block);
                            if (laterDepth == 0)
                            {
                                StoreBlock(&block, row, bandRows, panel * PanelWidth, k0 == 0);
                                continue;
                            }

                            AccumulateTall(aBand + TallRows * depth, PanelStart(k0 + DepthBlock, laterDepth, panel), laterDepth, &later);
                            StoreTallPair(&block, &later, row, bandRows, panel * PanelWidth, k0 == 0);
                        }
                    }
                }
            }
            finally
            {
                HostScratch.Return(packedAScratch, packedA);
            }
        }

        // C over two slices of K at once, with the bits of StoreBlock over each in turn:
        // ((first (+ bias) (+ old C)) + later). Partial bands and panels take that path itself.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StoreTallPair(Block<TVector>* first, Block<TVector>* later, int row, int rows, int column, bool firstSlice)
        {
            if (rows < TallRows || s.N - column < PanelWidth)
            {
                StoreBlock(first, row, rows, column, firstSlice);
                StoreBlock(later, row, rows, column, firstSlice: false);
                return;
            }

            bool addOld = !firstSlice || s.Accumulate != 0;
            bool addBias = firstSlice && s.HasBias != 0;
            TVector biasVector = addBias ? TLanes.Load(bias + column) : default;
            TVector* sums = (TVector*)first, laterSums = (TVector*)later;
            long n = s.N;
            float* target = c + row * n + column;
            for (int r = 0; r < TallRows; r++, target += n)
            {
                var value = sums[r];
                if (addBias)
                    value = TLanes.Add(value, biasVector);
                if (addOld)
                    value = TLanes.Add(value, TLanes.Load(target));
                TLanes.Store(target, TLanes.Add(value, laterSums[r]));
            }
        }

        // Band b of the block holds A[firstRow + 24 b + i, k0 + kk] at (24 b + 24 kk + i) within
        // its 24 x depth floats (k-major); rows past M are zero, computed and not stored.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackTallA(float* target, int firstRow, int rows, int k0, int depth)
        {
            long rowStride = s.ARowStride, columnStride = s.AColStride;
            int bands = (rows + TallRows - 1) / TallRows;
            for (int band = 0; band < bands; band++)
            {
                float* bandTarget = target + (long)band * TallRows * depth;
                int bandFirst = firstRow + band * TallRows;
                int valid = Math.Min(TallRows, s.M - bandFirst);
                if (columnStride == 1)
                {
                    // NN, NT: each row of A is contiguous in k; eight rows at a time are transposed
                    // in registers, the rest of the band (and depth % 8) copied one value at a time.
                    int r = 0;
                    for (; r + 8 <= valid; r += 8)
                    {
                        float* source = a + (bandFirst + r) * rowStride + k0;
                        int kk = 0;
                        for (; kk + 8 <= depth; kk += 8)
                            HostTranspose.Block8x8(source + kk, rowStride, bandTarget + kk * TallRows + r, TallRows);
                        for (; kk < depth; kk++)
                        {
                            for (int i = 0; i < 8; i++)
                                bandTarget[kk * TallRows + r + i] = source[i * rowStride + kk];
                        }
                    }

                    for (; r < TallRows; r++)
                    {
                        float* source = a + (bandFirst + r) * rowStride + k0;
                        float* column = bandTarget + r;
                        for (int kk = 0; kk < depth; kk++)
                            column[kk * TallRows] = r < valid ? source[kk] : 0f;
                    }
                }
                else
                {
                    // TN: A is stored (K, M), so the 24 values of a k are contiguous.
                    float* source = a + k0 * columnStride + bandFirst;
                    for (int kk = 0; kk < depth; kk++, source += columnStride, bandTarget += TallRows)
                    {
                        if (valid == TallRows)
                        {
                            Vector256.Store(Vector256.Load(source), bandTarget);
                            Vector256.Store(Vector256.Load(source + 8), bandTarget + 8);
                            Vector256.Store(Vector256.Load(source + 16), bandTarget + 16);
                        }
                        else
                        {
                            for (int i = 0; i < TallRows; i++)
                                bandTarget[i] = i < valid ? source[i] : 0f;
                        }
                    }
                }
            }
        }

        // The loop alone, never inlined, like the other kernels (see AccumulateRows). B is prefetched
        // 8 lines ahead (PrefetchFloats).
        [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
        private static void AccumulateTall(float* ap, float* bp, int depth, Block<TVector>* result)
        {
            int v = TLanes.Count;
            TVector c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            TVector c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
            TVector c16 = default, c17 = default, c18 = default, c19 = default, c20 = default, c21 = default, c22 = default, c23 = default;
            for (int kk = 0; kk < depth; kk++, ap += TallRows, bp += v)
            {
                Sse.Prefetch0(bp + PrefetchFloats);
                var b0 = TLanes.Load(bp);
                c0 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[0]), b0, c0);
                c1 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[1]), b0, c1);
                c2 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[2]), b0, c2);
                c3 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[3]), b0, c3);
                c4 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[4]), b0, c4);
                c5 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[5]), b0, c5);
                c6 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[6]), b0, c6);
                c7 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[7]), b0, c7);
                c8 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[8]), b0, c8);
                c9 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[9]), b0, c9);
                c10 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[10]), b0, c10);
                c11 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[11]), b0, c11);
                c12 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[12]), b0, c12);
                c13 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[13]), b0, c13);
                c14 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[14]), b0, c14);
                c15 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[15]), b0, c15);
                c16 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[16]), b0, c16);
                c17 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[17]), b0, c17);
                c18 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[18]), b0, c18);
                c19 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[19]), b0, c19);
                c20 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[20]), b0, c20);
                c21 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[21]), b0, c21);
                c22 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[22]), b0, c22);
                c23 = TLanes.MultiplyAdd(TLanes.Broadcast(ap[23]), b0, c23);
            }

            // Row r in element r.
            TVector* r = (TVector*)result;
            r[0] = c0; r[1] = c1; r[2] = c2; r[3] = c3; r[4] = c4; r[5] = c5; r[6] = c6; r[7] = c7;
            r[8] = c8; r[9] = c9; r[10] = c10; r[11] = c11; r[12] = c12; r[13] = c13; r[14] = c14; r[15] = c15;
            r[16] = c16; r[17] = c17; r[18] = c18; r[19] = c19; r[20] = c20; r[21] = c21; r[22] = c22; r[23] = c23;
        }
    }
}
