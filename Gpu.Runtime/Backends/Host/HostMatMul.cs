using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The host fast path's matrix product: <c>C = op(A) op(B) (+ C) (+ bias)</c> with fused
/// multiply-adds on the widest vectors the CPU runs well (<see cref="Vector512{T}"/>, 16 floats, with
/// AVX-512; else <see cref="Vector{T}"/>, 8 floats with AVX2), organised like GotoBLAS/BLIS:
/// <list type="bullet">
/// <item>op(B) is packed once per call into panels of four 512-bit or two 256-bit vectors' width
/// (64 or 16 columns, zero-padded past N; 32 with two 512-bit vectors when N is 17-63),
/// k-major inside slices of 128 rows of K, so the micro-kernel reads B contiguously whatever the
/// form (NN or NT) and whatever N's stride (a 4 KiB stride at N = 1024 would alias in L1).</item>
/// <item>A is streamed in place, six rows at a time (packing them cost as much as a 64-cube
/// product): in NN and NT its rows are contiguous in k; in TN the six values of each k are
/// contiguous and k steps by M. Only a TN A with M >= 1,024 is packed per block of 96 rows and
/// slice of K into bands of 6 rows, k-major (its 4 KiB k-steps would alias in L1).</item>
/// <item>The micro-kernel keeps a 6-row block of C in registers: with AVX2 (16 registers) two
/// vectors per row, 12 accumulators fed per k by two loads of B and six broadcasts of A; with
/// AVX-512 (32 registers) four vectors per row, 24 accumulators fed by four loads and six
/// broadcasts, fewer loads per FMA (7-15% faster than two vectors per row at 128-1024³, measured
/// call by call in one process). Twelve or more independent accumulators cover the FMA latency of
/// current x64 cores (two units x 4-5 cycles); the first 4 x 16 block had eight and ran at about
/// 60% of the 6 x 16 kernel's speed at N = 1024.</item>
/// </list>
/// The code is written once over the vector type (<see cref="ILanes{TVector}"/>; the JIT specialises
/// it for each). Each output is summed over k in the same order whatever the width, so 512-bit and
/// 256-bit machines give the same bits; 512-bit vectors made 256-1024³ products 1.3-1.6x faster on
/// an AVX-512 Xeon.
/// Large products (M and N from 256) take a third kernel instead, 24 x 16 blocks over packed A
/// (HostMatMul.Tall.cs), and narrow ones (a few columns at a large batch) a fourth, with rows on
/// the lanes (HostMatMul.Narrow.cs). Products split into (row block of up to 96 rows, group of up to 1,024
/// columns) units over cores (HostThreads.For), the bands dealt out evenly.
/// Every output is summed over k in the same order by one thread whatever the split, so results
/// are deterministic and independent of the number of cores. The hot methods are compiled fully
/// optimised on first call: tiering promotes methods only after ~100 ms, tier-0 vector code is
/// several times slower, and a short run (the reference example) lives in that window.
/// </summary>
internal static unsafe partial class HostMatMul
{
    private const double ParallelFlops = 2e6;
    // A TN A is packed from this column stride (4 KiB) up, and read in place below it (see Unit).
    private const long PackedTransposedAStride = 1024;
    // Rows of C a micro-kernel keeps in registers: 6 (of 2 or 4 vectors each), or 24 of one vector
    // in the tall kernel (HostMatMul.Tall.cs). Row blocks hold 96 rows either way.
    private const int BandRows = 6;
    private const int BlockRows = 96;
    private const int ColumnSplitRows = 4 * BlockRows;
    // 128-deep slices of K: a packed panel of B is then 32 KiB on AVX-512 (64 columns) and stays in
    // a 48 KiB L1 across the bands; measured 3-7% faster than 256 (192 was slower).
    private const int DepthBlock = 128;
    private const long ParallelPackFloats = 1 << 16;
    // NN products whose B holds this many floats (1 MiB) or more pack it row by row (PackSliceRows):
    // 2-4% faster at 1024³; on small products (a convolution's 32 x 1024 x 27) the per-row loop
    // cost 4% more than it saved.
    private const long RowOrderPackFloats = 1 << 18;
    // Products smaller than this stay on Vector<T>: an AVX-512 unit that has been idle for a while
    // runs slowly for its first microseconds (and the core changes clock), so a training step of
    // small products that woke it every time took 1 ms per epoch of the reference example instead of
    // 0.08 (its products are under 10^5 multiply-adds). From 64 x 64 x 128 up the wide kernel wins
    // even when the unit starts cold (32-36 µs against 36-45 µs after 3 ms idle, single calls), and
    // by 1.6x in a loop (a 3-channel convolution's 32 x 1024 x 27 products).
    private const double WideFlops = 64 * 64 * 128;
    // Products at least this wide take 512-bit vectors: 17-63 columns on 6 x 32 blocks (two
    // vectors per row), wider ones on 6 x 64. With 17-31 columns the 8-float kernel makes two
    // 16-column panels, the second mostly padding, and twice the short calls: a 4,096 x 20 x 10
    // Linear ran in 0.74x the time on one 32-column panel, 64 x 24 x 64 in 0.88x (one process).
    // With 16 columns or fewer a 6 x 32 block is half empty: 1.2-1.45x slower. (From 1,024 rows,
    // up to 24 columns now take the narrow kernel, HostMatMul.Narrow.cs: 4,096 x 20 x 10 in
    // 0.37-0.45x the 6 x 32 kernel's time.)
    private const int NarrowestWide = 17;
    private const int WideColumns = 64;

    /// <summary>
    /// C = op(A) op(B) (+ bias) (+ C) on the host, then torch.relu's rule on C when
    /// <paramref name="relu"/>: applied to each unit's block of C after its last slice, while the
    /// block is still in cache (<see cref="ReluRows"/>).
    /// </summary>
    public static void Run(float* a, float* b, float* c, float* bias, MatMulShape s, bool mayParallelise = true, bool relu = false) =>
        Run(Choose(s), a, b, c, bias, s, default, mayParallelise, relu);

    /// <summary>
    /// The same with A read through offset tables, <c>A[m, k] = a[rowOffsets[m] + depthOffsets[k]]</c>
    /// (s's A strides are not used), on the calling thread: a convolution's patch matrix read in place
    /// from its padded input (HostConvolution.cs), without being built.
    /// </summary>
    public static void RunIndirect(float* a, int* rowOffsets, int* depthOffsets, float* b, float* c, float* bias, MatMulShape s)
    {
        // Not the tall kernel (it packs A by strides) or the transposed product (it reads A as B).
        var kernel = ChooseBlocked(s);
        if (kernel == Kernel.Tall)
            kernel = Kernel.Wide;
        Run(kernel, a, b, c, bias, s, new IndirectA(rowOffsets, depthOffsets), mayParallelise: false, relu: false);
    }

    /// <summary>Offset tables for A (<see cref="RunIndirect"/>); none (null) for A read by its strides.</summary>
    private readonly struct IndirectA(int* rowOffsets, int* depthOffsets)
    {
        public readonly int* RowOffsets = rowOffsets, DepthOffsets = depthOffsets;
    }

    /// <summary>The micro-kernels, by the vector width and block they use.</summary>
    internal enum Kernel
    {
        /// <summary><see cref="Vector{T}"/> (AVX2: 8 floats), 6 x 16 blocks.</summary>
        Vector,

        /// <summary>512-bit vectors, 6 x 64 blocks (6 x 32 below 64 columns).</summary>
        Wide,

        /// <summary>512-bit vectors, 24 x 16 blocks (HostMatMul.Tall.cs).</summary>
        Tall,

        /// <summary>The transposed product on one of the others, transposed back (HostMatMul.Transposed.cs).</summary>
        Transposed,

        /// <summary>512-bit vectors, 16 rows on the lanes, a column per accumulator (HostMatMul.Narrow.cs).</summary>
        Narrow,
    }

    internal static Kernel Choose(MatMulShape s)
    {
        if (Narrow(s))
            return Kernel.Narrow;
        if (Transposed(s))
            return Kernel.Transposed;
        return ChooseBlocked(s);
    }

    private static Kernel ChooseBlocked(MatMulShape s)
    {
        if (!Vector512.IsHardwareAccelerated || s.N < NarrowestWide || (double)s.M * s.N * s.K < WideFlops)
            return Kernel.Vector;
        return Tall(s) ? Kernel.Tall : Kernel.Wide;
    }

    /// <summary>The same on arrays, with the kernel chosen (tests compare them: they give the same bits).</summary>
    internal static void Run(Kernel kernel, float[] a, float[] b, float[] c, float[]? bias, MatMulShape s, bool relu = false)
    {
        fixed (float* ap = a, bp = b, cp = c, biasp = bias)
            Run(kernel, ap, bp, cp, biasp, s, default, mayParallelise: true, relu);
    }

    private static void Run(Kernel kernel, float* a, float* b, float* c, float* bias, MatMulShape s, IndirectA indirect, bool mayParallelise, bool relu)
    {
        if (kernel == Kernel.Transposed)
            RunTransposed(a, b, c, bias, s, mayParallelise, relu);
        else if (kernel == Kernel.Narrow)
            RunNarrow(a, b, c, bias, s, mayParallelise, relu);
        else if (kernel == Kernel.Tall)
            Run<Vector512<float>, Lanes512<TallByOne>>(a, b, c, bias, s, indirect, mayParallelise, relu);
        else if (kernel == Kernel.Wide && s.N < WideColumns)
            Run<Vector512<float>, Lanes512<SixByTwo>>(a, b, c, bias, s, indirect, mayParallelise, relu);
        else if (kernel == Kernel.Wide)
            Run<Vector512<float>, Lanes512<SixByFour>>(a, b, c, bias, s, indirect, mayParallelise, relu);
        else
            Run<Vector<float>, LanesT>(a, b, c, bias, s, indirect, mayParallelise, relu);
    }

    // torch.relu's rule (HostOps.Relu) on rows [firstRow, firstRow + rows), columns
    // [firstColumn, firstColumn + columns) of C (N floats a row): whole rows in one call (a call
    // per row of 20 floats made the reference step 5% slower than a separate ReLU).
    private static void ReluRows(float* c, long n, int firstRow, int rows, int firstColumn, int columns)
    {
        if (firstColumn == 0 && columns == n)
        {
            var block = new Span<float>(c + firstRow * n, checked((int)(rows * n)));
            HostOps.Relu(block, block);
            return;
        }

        for (int r = firstRow; r < firstRow + rows; r++)
        {
            var row = new Span<float>(c + r * n + firstColumn, columns);
            HostOps.Relu(row, row);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TVector, TLanes>(float* a, float* b, float* c, float* bias, MatMulShape s, IndirectA indirect, bool mayParallelise, bool relu)
        where TVector : unmanaged
        where TLanes : struct, ILanes<TVector>
    {
        // A panel of packed B: 64 columns with AVX-512, 16 with AVX2.
        int panelWidth = TLanes.PanelVectors * TLanes.Count;
        if (s.M == 0 || s.N == 0)
            return;
        int panels = (s.N + panelWidth - 1) / panelWidth;
        var packedB = HostScratch.Rent(ref packedBScratch, (long)Math.Max(s.K, 1) * panels * panelWidth, MaxKeptFloats);
        try
        {
            float* bp = packedB.Start;
            bool parallel = mayParallelise && HostThreads.Count > 1 && 2.0 * s.M * s.N * s.K >= ParallelFlops && (s.M > TLanes.BandRows || panels > TLanes.GroupPanels);
            // Up to 384 rows the cores split the columns instead, and each packs its own panels of
            // B: split by rows, every core read the whole packed B, which the caller had packed
            // and still held in its cache; a 64 x 512 x 128 product on two cores then ran at 0.84x
            // its one-core speed, and splitting the columns made it 1.6-1.8x faster (128³: 1.6x,
            // 384 x 512 x 256: 1.04x). Not for the tall kernel, whose row blocks were as fast.
            int cores = HostThreads.Count;
            bool byColumns = parallel && TLanes.BandRows != TallRows && s.M <= ColumnSplitRows && panels >= cores;
            var job = byColumns
                ? new Job<TVector, TLanes>(a, b, bp, c, bias, s, indirect, panels, 1, (panels + cores - 1) / cores, unitsPackB: true, relu)
                : new Job<TVector, TLanes>(a, b, bp, c, bias, s, indirect, panels, RowBlocks(s.M, TLanes.BandRows, parallel), TLanes.GroupPanels, unitsPackB: false, relu);
            int units = job.Units;
            // Split by columns, the units pack their own panels.
            if (!byColumns)
                job.PackAllPanels(parallel && (long)s.K * panels * panelWidth >= ParallelPackFloats);

            if (parallel)
                HostThreads.For(units, job.Unit);
            else
                for (int unit = 0; unit < units; unit++)
                    job.Unit(unit);
        }
        finally
        {
            HostScratch.Return(packedBScratch, packedB);
        }
    }

    // Packing buffers, one per thread and kept up to 64 MiB (a packed 4,096 x 4,096 B), so that no
    // product of a training step allocates or faults in fresh pages; larger products take a
    // temporary one.
    private const long MaxKeptFloats = 1 << 24;

    [ThreadStatic]
    private static HostScratch? packedBScratch;

    [ThreadStatic]
    private static HostScratch? packedAScratch;

    // Row blocks of at most 96 rows; on several cores their count is a multiple of the core count,
    // and the bands are dealt out evenly (M = 1024 on two cores, 6-row bands: 12 blocks of 14 or 15
    // bands rather than 11 of 90 rows and one of 34, which left one core 5% more work).
    private static int RowBlocks(int m, int bandRows, bool parallel)
    {
        int bands = (m + bandRows - 1) / bandRows;
        int blockBands = BlockRows / bandRows;
        int blocks = (bands + blockBands - 1) / blockBands;
        if (parallel)
        {
            int cores = HostThreads.Count;
            blocks = (blocks + cores - 1) / cores * cores;
        }

        return Math.Min(blocks, bands);
    }

    // A block of C as the micro-kernel leaves it, row r in elements PanelVectors r .. PanelVectors (r + 1) - 1
    // (6 rows of 2 or 4 vectors, or 24 of one). The kernels store their accumulators through a
    // pointer: a helper taking the 24 vectors as arguments was never inlined (too many arguments)
    // and its call cost 3-4% of a 512-1024³ product.
    [InlineArray(4 * BandRows)]
    private struct Block<TVector>
        where TVector : unmanaged
    {
        private TVector element;
    }

    /// <summary>
    /// The vector operations the product needs, for one vector type, and the block shape of the
    /// micro-kernel that uses them (static, so the JIT inlines them).
    /// </summary>
    private interface ILanes<TVector>
        where TVector : unmanaged
    {
        static abstract int Count { get; }

        /// <summary>Vectors per row of the micro-kernel's block (and of a packed panel of B).</summary>
        static abstract int PanelVectors { get; }

        /// <summary>Rows of the micro-kernel's block.</summary>
        static abstract int BandRows { get; }

        /// <summary>Panels of B a unit of work covers (1,024 columns at most: 512 KiB of B per slice of K).</summary>
        static abstract int GroupPanels { get; }

        static abstract TVector Load(float* source);

        static abstract void Store(float* target, TVector value);

        static abstract TVector Broadcast(float value);

        static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);

        static abstract TVector Add(TVector a, TVector b);

        static abstract float Element(TVector value, int index);
    }

    /// <summary>A micro-kernel's block: rows, vectors per row, and panels per unit of work.</summary>
    private interface IBlockShape
    {
        static abstract int PanelVectors { get; }

        static abstract int BandRows { get; }

        static abstract int GroupPanels { get; }
    }

    // Six rows of four vectors: 6 x 64 on 512-bit vectors.
    private readonly struct SixByFour : IBlockShape
    {
        public static int PanelVectors => 4;

        public static int BandRows => HostMatMul.BandRows;

        public static int GroupPanels => 16;
    }

    // Six rows of two vectors: 6 x 16 with AVX2, 6 x 32 on 512-bit vectors (products 17-63 columns wide).
    private readonly struct SixByTwo : IBlockShape
    {
        public static int PanelVectors => 2;

        public static int BandRows => HostMatMul.BandRows;

        public static int GroupPanels => 16;
    }

    private readonly struct LanesT : ILanes<Vector<float>>
    {
        public static int Count => Vector<float>.Count;

        public static int PanelVectors => SixByTwo.PanelVectors;

        public static int BandRows => SixByTwo.BandRows;

        public static int GroupPanels => SixByTwo.GroupPanels;

        public static Vector<float> Load(float* source) => *(Vector<float>*)source;

        public static void Store(float* target, Vector<float> value) => *(Vector<float>*)target = value;

        public static Vector<float> Broadcast(float value) => new(value);

        public static Vector<float> MultiplyAdd(Vector<float> a, Vector<float> b, Vector<float> c) => Vector.FusedMultiplyAdd(a, b, c);

        public static Vector<float> Add(Vector<float> a, Vector<float> b) => a + b;

        public static float Element(Vector<float> value, int index) => value[index];
    }

    private readonly struct Lanes512<TShape> : ILanes<Vector512<float>>
        where TShape : struct, IBlockShape
    {
        public static int Count => Vector512<float>.Count;

        public static int PanelVectors => TShape.PanelVectors;

        public static int BandRows => TShape.BandRows;

        public static int GroupPanels => TShape.GroupPanels;

        public static Vector512<float> Load(float* source) => Vector512.Load(source);

        public static void Store(float* target, Vector512<float> value) => value.Store(target);

        public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);

        public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

        public static float Element(Vector512<float> value, int index) => value[index];
    }

    private readonly partial struct Job<TVector, TLanes>(float* a, float* b, float* packedB, float* c, float* bias, MatMulShape s, IndirectA indirect, int panels, int rowBlocks, int groupPanels, bool unitsPackB, bool relu)
        where TVector : unmanaged
        where TLanes : struct, ILanes<TVector>
    {
        private static int PanelWidth
        {
            // (Without the attribute the JIT left this a call in every caller.)
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => TLanes.PanelVectors * TLanes.Count;
        }

        private readonly float* a = a, b = b, packedB = packedB, c = c, bias = bias;
        private readonly MatMulShape s = s;
        private readonly IndirectA indirect = indirect;
        private readonly int panels = panels, rowBlocks = rowBlocks, groupPanels = groupPanels;
        private readonly bool unitsPackB = unitsPackB, relu = relu;

        private int Groups => (panels + groupPanels - 1) / groupPanels;

        public int Units => rowBlocks * Groups;

        // Packed B: the slice of K starting at k0 with depth d begins at k0 * panels * width; inside
        // it panel p holds d rows of `width` floats, B[k0 + kk, p * width + jj] at (p * d + kk) * width + jj.
        private float* PanelStart(int k0, int depth, int panel) =>
            packedB + (long)k0 * panels * PanelWidth + (long)panel * depth * PanelWidth;

        // Every panel of B, over the cores when `parallel`. A large NN B is packed slice by slice, row
        // by row, so its rows are read in order (the hardware prefetchers follow them; panel by
        // panel, each row is visited once per panel); its last, partial panel as usual.
        public void PackAllPanels(bool parallel)
        {
            if (s.BColStride == 1 && (long)s.K * s.N >= RowOrderPackFloats)
            {
                int slices = (s.K + DepthBlock - 1) / DepthBlock;
                if (parallel)
                    HostThreads.For(slices, PackSliceRows);
                else
                    for (int slice = 0; slice < slices; slice++)
                        PackSliceRows(slice);
                if (s.N % PanelWidth != 0)
                    PackB(panels - 1);
            }
            else if (parallel)
                HostThreads.For(panels, PackB);
            else
                for (int p = 0; p < panels; p++)
                    PackB(p);
        }

        // NN: the whole panels of one slice of K, a row of B at a time.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void PackSliceRows(int slice)
        {
            int width = PanelWidth, v = TLanes.Count;
            int k0 = slice * DepthBlock, depth = Math.Min(DepthBlock, s.K - k0);
            int wholePanels = s.N / width;
            long rowStride = s.BRowStride;
            long panelStride = (long)depth * width;
            float* sliceStart = PanelStart(k0, depth, 0);
            for (int kk = 0; kk < depth; kk++)
            {
                float* source = b + (k0 + kk) * rowStride;
                float* target = sliceStart + kk * width;
                for (int p = 0; p < wholePanels; p++, source += width, target += panelStride)
                {
                    for (int u = 0; u < width; u += v)
                        TLanes.Store(target + u, TLanes.Load(source + u));
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void PackB(int panel)
        {
            int width = PanelWidth, k = s.K, n = s.N;
            int j0 = panel * width;
            bool full = j0 + width <= n;
            for (int k0 = 0; k0 < k; k0 += DepthBlock)
            {
                int depth = Math.Min(DepthBlock, k - k0);
                float* target = PanelStart(k0, depth, panel);
                if (full && s.BColStride == 1)
                {
                    // NN: each row of the panel is two contiguous vectors of B.
                    int v = TLanes.Count;
                    for (int kk = 0; kk < depth; kk++, target += width)
                    {
                        float* source = b + (long)(k0 + kk) * s.BRowStride + j0;
                        for (int u = 0; u < width; u += v)
                            TLanes.Store(target + u, TLanes.Load(source + u));
                    }

                    continue;
                }

                // NT (B stored (N, K): columns of the panel are contiguous rows of storage) with AVX:
                // 8 x 8 blocks transposed in registers; a scalar loop finishes depth % 8.
                int done = 0;
                if (full && s.BRowStride == 1 && width % 8 == 0 && Avx.IsSupported)
                {
                    long stride = s.BColStride;
                    float* rows = b + (long)j0 * stride + k0;
                    for (; done + 8 <= depth; done += 8)
                    {
                        for (int columns = 0; columns < width; columns += 8)
                            HostTranspose.Block8x8(rows + columns * stride + done, stride, target + done * width + columns, width);
                    }
                }

                // The rest of NT and the last, partial panel of either form, zero-padded so the
                // micro-kernel needs no mask.
                for (int jj = 0; jj < width; jj++)
                {
                    int j = j0 + jj;
                    float* column = target + jj;
                    if (j >= n)
                    {
                        for (int kk = done; kk < depth; kk++)
                            column[kk * width] = 0f;
                        continue;
                    }

                    // Strides in locals: stores through float* could alias `s` for the JIT, which
                    // would otherwise reload them every element.
                    long rowStride = s.BRowStride;
                    float* source = b + (long)j * s.BColStride + k0 * rowStride;
                    if (rowStride == 1)
                    {
                        for (int kk = done; kk < depth; kk++)
                            column[kk * width] = source[kk];
                    }
                    else
                    {
                        for (int kk = done; kk < depth; kk++)
                            column[kk * width] = source[kk * rowStride];
                    }
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Unit(int unit)
        {
            int rowBlock = unit / Groups, group = unit % Groups;
            // Row block r holds bands [r * total / blocks, (r + 1) * total / blocks).
            int rowsPerBand = TLanes.BandRows;
            int totalBands = (s.M + rowsPerBand - 1) / rowsPerBand;
            int firstBand = (int)((long)rowBlock * totalBands / rowBlocks);
            int endBand = (int)((long)(rowBlock + 1) * totalBands / rowBlocks);
            int firstRow = firstBand * rowsPerBand;
            int rows = Math.Min(endBand * rowsPerBand, s.M) - firstRow;
            int bands = endBand - firstBand;
            int firstPanel = group * groupPanels;
            int endPanel = Math.Min(firstPanel + groupPanels, panels);
            if (unitsPackB)
            {
                for (int p = firstPanel; p < endPanel; p++)
                    PackB(p);
            }

            if (rowsPerBand == TallRows)
                TallBlock(firstRow, rows, bands, firstPanel, endPanel);
            else
                BlockedUnit(firstRow, rows, bands, firstPanel, endPanel);
            if (relu)
                ReluRows(c, s.N, firstRow, rows, firstPanel * PanelWidth, Math.Min(endPanel * PanelWidth, s.N) - firstPanel * PanelWidth);
        }

        // Rows [firstRow, firstRow + rows) of C against panels [firstPanel, endPanel) on the 6-row kernels.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void BlockedUnit(int firstRow, int rows, int bands, int firstPanel, int endPanel)
        {

            int k = s.K;
            // A is read in place: in NN and NT six rows contiguous in k, in TN (A stored (K, M)) the
            // six values of each k, contiguous, k steps M apart. Only a TN A whose k-steps are
            // 4 KiB or more apart (M >= 1,024) is packed: in place, every k of a slice maps to one
            // set of L1, and on two cores 1024-2048 x 48-128 x 256-1024 products ran 3-7% slower.
            // Below that, reading in place was 3-13% faster than packing on one core (128³ TN,
            // 768 x 64 x 256, 200 x 300 x 100) and 2-15% on two (measured in one process).
            bool packA = s.AColStride >= PackedTransposedAStride && indirect.RowOffsets == null;
            // (+ 2: PackA's 8-float stores of 6-float rows run 2 floats past the last.)
            var packedA = HostScratch.Rent(ref packedAScratch, packA ? bands * BandRows * Math.Max(Math.Min(DepthBlock, k), 1) + 2 : 1, MaxKeptFloats);
            try
            {
                float* ap = packedA.Start;
                // Slices of K outside: the 96 x 128 block of A (48 KiB) stays in L2 across the
                // panels, and one 128-deep panel of B (8 KiB with AVX2, 32 KiB with AVX-512)
                // in L1 across the 16 bands.
                // K = 0 still takes one empty slice, which writes the bias (and old C).
                for (int k0 = 0; k0 < Math.Max(k, 1); k0 += DepthBlock)
                {
                    int depth = Math.Min(DepthBlock, k - k0);
                    if (packA)
                        PackA(ap, firstRow, rows, k0, depth);
                    for (int panel = firstPanel; panel < endPanel; panel++)
                    {
                        float* bPanel = PanelStart(k0, depth, panel);
                        for (int band = 0; band < bands; band++)
                        {
                            int row = firstRow + band * BandRows;
                            int bandRows = Math.Min(BandRows, s.M - row);
                            Block<TVector> block;
                            SixRows rowsOfA;
                            if (indirect.RowOffsets != null)
                            {
                                rowsOfA = SixRows.Table(a, indirect.RowOffsets + row, bandRows);
                                AccumulateRows<Tabled>(&rowsOfA, indirect.DepthOffsets + k0, 0, bPanel, depth, &block);
                            }
                            else if (packA)
                            {
                                rowsOfA = SixRows.Strided(ap + (long)band * BandRows * depth, 1, BandRows);
                                AccumulateRows<Strided>(&rowsOfA, null, BandRows, bPanel, depth, &block);
                            }
                            else if (s.AColStride != 1)
                            {
                                // TN in place: k steps by A's column stride (under 1,024, see packA).
                                rowsOfA = SixRows.Strided(a + (long)k0 * s.AColStride + row, 1, bandRows);
                                AccumulateRows<Strided>(&rowsOfA, null, (int)s.AColStride, bPanel, depth, &block);
                            }
                            else
                            {
                                rowsOfA = SixRows.Strided(a + (long)row * s.ARowStride + k0, s.ARowStride, bandRows);
                                AccumulateRows<Strided>(&rowsOfA, null, 1, bPanel, depth, &block);
                            }

                            StoreBlock(&block, row, bandRows, panel * PanelWidth, k0 == 0);
                        }
                    }
                }
            }
            finally
            {
                HostScratch.Return(packedAScratch, packedA);
            }
        }

        // TN with M >= 1,024 only (A stored (K, M), so ARowStride = 1): band r of the block holds A[row + i, k0 + kk]
        // at (r * depth + kk) * 6 + i, and the six values at each k are contiguous in A as well.
        // Rows past M are zero; their results are computed but not stored.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void PackA(float* target, int firstRow, int rows, int k0, int depth)
        {
            long columnStride = s.AColStride;
            int bands = (rows + BandRows - 1) / BandRows;
            for (int band = 0; band < bands; band++)
            {
                int valid = Math.Min(BandRows, rows - band * BandRows);
                float* bandTarget = target + (long)band * BandRows * depth;
                float* source = a + k0 * columnStride + firstRow + band * BandRows;
                // The six values of a k are contiguous: one 8-float load and store each (the two
                // extra floats are overwritten by the next k's), except where the load would read
                // past A's last row. Scalar copies made a 128³ TN product 1.4x OpenBLAS's time.
                int wholeVectors = !Avx.IsSupported || valid < BandRows ? 0
                    : firstRow + band * BandRows + 8 <= s.M ? depth : depth - 1;
                int kk = 0;
                for (; kk < wholeVectors; kk++, source += columnStride, bandTarget += BandRows)
                    Avx.Store(bandTarget, Avx.LoadVector256(source));
                for (; kk < depth; kk++, source += columnStride, bandTarget += BandRows)
                {
                    if (valid == BandRows)
                    {
                        for (int i = 0; i < BandRows; i++)
                            bandTarget[i] = source[i];
                    }
                    else
                    {
                        for (int i = 0; i < BandRows; i++)
                            bandTarget[i] = i < valid ? source[i] : 0f;
                    }
                }
            }
        }

        // C[row .. row + rows, column .. column + width) over one slice of K: the first slice writes C
        // (with the bias and, when accumulating, the old C), later slices add to it. Whole panels
        // take straight-line vector code: a general loop over the row's vectors with the bias and
        // old-C tests inside compiled to a call per panel width and a branch per vector, and cost
        // 2-4% of a 128-1024³ product (measured in one process).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StoreBlock(Block<TVector>* block, int row, int rows, int column, bool firstSlice)
        {
            int v = TLanes.Count, vectors = TLanes.PanelVectors, width = vectors * v;
            bool addOld = !firstSlice || s.Accumulate != 0;
            bool addBias = firstSlice && s.HasBias != 0;
            if (s.N - column < width)
            {
                for (int r = 0; r < rows; r++)
                    StorePartial(row + r, column, s.N - column, block, r, addBias, addOld);
                return;
            }

            TVector* sums = (TVector*)block;
            if (addBias)
            {
                for (int i = 0; i < rows * vectors; i++)
                    sums[i] = TLanes.Add(sums[i], TLanes.Load(bias + column + i % vectors * v));
            }

            long n = s.N;
            float* target = c + row * n + column;
            if (addOld)
            {
                for (int r = 0; r < rows; r++, target += n, sums += vectors)
                {
                    TLanes.Store(target, TLanes.Add(sums[0], TLanes.Load(target)));
                    if (vectors >= 2)
                        TLanes.Store(target + v, TLanes.Add(sums[1], TLanes.Load(target + v)));
                    if (vectors == 4)
                    {
                        TLanes.Store(target + 2 * v, TLanes.Add(sums[2], TLanes.Load(target + 2 * v)));
                        TLanes.Store(target + 3 * v, TLanes.Add(sums[3], TLanes.Load(target + 3 * v)));
                    }
                }
            }
            else
            {
                for (int r = 0; r < rows; r++, target += n, sums += vectors)
                {
                    TLanes.Store(target, sums[0]);
                    if (vectors >= 2)
                        TLanes.Store(target + v, sums[1]);
                    if (vectors == 4)
                    {
                        TLanes.Store(target + 2 * v, sums[2]);
                        TLanes.Store(target + 3 * v, sums[3]);
                    }
                }
            }
        }

        // A 6-row block of C over one slice of K, two or four vectors per row (PanelVectors): per k,
        // two or four loads of B and six broadcasts of A feed 12 or 24 FMAs (24 accumulators fit
        // AVX-512's 32 registers; with four vectors, fewer loads per FMA). A[row r, k kk] is read at
        // a_r[kk * kStride]: six rows of A in place (NN, NT: kStride 1, a_r = a0 + r rowStride) or a
        // packed band (TN: kStride 6, a_r = a0 + r); or, with TDepth = Tabled, at a_r[offsets[kk]]
        // (a convolution's patches read from its padded input: the offsets step through channels
        // and kernel rows). A load of the offset per k in place of the stride cost 1-2% of a
        // 128-255³ product, so the stride stays for the plain product. Rows past the band's last
        // valid one repeat it; their results are not stored. `quad` and `TDepth.FromTable` are
        // constants for each instantiation, so the JIT drops the unused code. The loop alone,
        // compiled fully optimised on first call and never inlined: with the store code in the same
        // method the JIT (without tier-1's profile) spilled the accumulators to the stack every
        // iteration, at a third of the speed.
        [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
        private static void AccumulateRows<TDepth>(SixRows* rowsOfA, int* offsets, int kStride, float* bp, int depth, Block<TVector>* result)
            where TDepth : struct, IDepthSteps
        {
            int v = TLanes.Count;
            bool quad = TLanes.PanelVectors == 4;
            float* a0 = rowsOfA->R0, a1 = rowsOfA->R1, a2 = rowsOfA->R2, a3 = rowsOfA->R3, a4 = rowsOfA->R4, a5 = rowsOfA->R5;
            TVector c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
            TVector c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
            TVector c40 = default, c41 = default, c42 = default, c43 = default, c50 = default, c51 = default, c52 = default, c53 = default;
            for (int kk = 0, step = 0; kk < depth; kk++, step += kStride, bp += TLanes.PanelVectors * v)
            {
                int ka = TDepth.FromTable ? offsets[kk] : step;
                var b0 = TLanes.Load(bp);
                var b1 = TLanes.Load(bp + v);
                TVector b2 = default, b3 = default;
                if (quad)
                {
                    b2 = TLanes.Load(bp + 2 * v);
                    b3 = TLanes.Load(bp + 3 * v);
                }

                var x = TLanes.Broadcast(a0[ka]);
                c00 = TLanes.MultiplyAdd(x, b0, c00);
                c01 = TLanes.MultiplyAdd(x, b1, c01);
                if (quad)
                {
                    c02 = TLanes.MultiplyAdd(x, b2, c02);
                    c03 = TLanes.MultiplyAdd(x, b3, c03);
                }

                x = TLanes.Broadcast(a1[ka]);
                c10 = TLanes.MultiplyAdd(x, b0, c10);
                c11 = TLanes.MultiplyAdd(x, b1, c11);
                if (quad)
                {
                    c12 = TLanes.MultiplyAdd(x, b2, c12);
                    c13 = TLanes.MultiplyAdd(x, b3, c13);
                }

                x = TLanes.Broadcast(a2[ka]);
                c20 = TLanes.MultiplyAdd(x, b0, c20);
                c21 = TLanes.MultiplyAdd(x, b1, c21);
                if (quad)
                {
                    c22 = TLanes.MultiplyAdd(x, b2, c22);
                    c23 = TLanes.MultiplyAdd(x, b3, c23);
                }

                x = TLanes.Broadcast(a3[ka]);
                c30 = TLanes.MultiplyAdd(x, b0, c30);
                c31 = TLanes.MultiplyAdd(x, b1, c31);
                if (quad)
                {
                    c32 = TLanes.MultiplyAdd(x, b2, c32);
                    c33 = TLanes.MultiplyAdd(x, b3, c33);
                }

                x = TLanes.Broadcast(a4[ka]);
                c40 = TLanes.MultiplyAdd(x, b0, c40);
                c41 = TLanes.MultiplyAdd(x, b1, c41);
                if (quad)
                {
                    c42 = TLanes.MultiplyAdd(x, b2, c42);
                    c43 = TLanes.MultiplyAdd(x, b3, c43);
                }

                x = TLanes.Broadcast(a5[ka]);
                c50 = TLanes.MultiplyAdd(x, b0, c50);
                c51 = TLanes.MultiplyAdd(x, b1, c51);
                if (quad)
                {
                    c52 = TLanes.MultiplyAdd(x, b2, c52);
                    c53 = TLanes.MultiplyAdd(x, b3, c53);
                }
            }

            TVector* r = (TVector*)result;
            if (quad)
            {
                r[0] = c00; r[1] = c01; r[2] = c02; r[3] = c03; r[4] = c10; r[5] = c11; r[6] = c12; r[7] = c13;
                r[8] = c20; r[9] = c21; r[10] = c22; r[11] = c23; r[12] = c30; r[13] = c31; r[14] = c32; r[15] = c33;
                r[16] = c40; r[17] = c41; r[18] = c42; r[19] = c43; r[20] = c50; r[21] = c51; r[22] = c52; r[23] = c53;
            }
            else
            {
                r[0] = c00; r[1] = c01; r[2] = c10; r[3] = c11; r[4] = c20; r[5] = c21;
                r[6] = c30; r[7] = c31; r[8] = c40; r[9] = c41; r[10] = c50; r[11] = c51;
            }
        }

        // The last, partial panel: whole vectors where the row still has them, then the rest one
        // element at a time (the same sums; element by element throughout, a 48-column product on
        // 32-column panels ran 1.26x slower than on 16-column ones).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void StorePartial(int row, int column, int columns, Block<TVector>* block, int blockRow, bool addBias, bool addOld)
        {
            int v = TLanes.Count;
            float* target = c + (long)row * s.N + column;
            TVector* sums = (TVector*)block + TLanes.PanelVectors * blockRow;
            int jj = 0;
            for (; jj + v <= columns; jj += v, sums++)
            {
                var sum = *sums;
                if (addBias)
                    sum = TLanes.Add(sum, TLanes.Load(bias + column + jj));
                if (addOld)
                    sum = TLanes.Add(sum, TLanes.Load(target + jj));
                TLanes.Store(target + jj, sum);
            }

            for (int i = 0; jj < columns; jj++, i++)
            {
                float sum = TLanes.Element(*sums, i);
                if (addBias)
                    sum += bias[column + jj];
                if (addOld)
                    sum += target[jj];
                target[jj] = sum;
            }
        }
    }

    /// <summary>How the micro-kernel steps along k in A: a stride, or a table of offsets.</summary>
    private interface IDepthSteps
    {
        static abstract bool FromTable { get; }
    }

    private readonly struct Strided : IDepthSteps
    {
        public static bool FromTable => false;
    }

    private readonly struct Tabled : IDepthSteps
    {
        public static bool FromTable => true;
    }

    /// <summary>
    /// Where the six rows of A under a 6-row block start; rows past the band's last valid one repeat
    /// it (their results are not stored).
    /// </summary>
    private struct SixRows
    {
        public float* R0, R1, R2, R3, R4, R5;

        public static SixRows Strided(float* first, long stride, int rows) => new()
        {
            R0 = first,
            R1 = first + Math.Min(1, rows - 1) * stride,
            R2 = first + Math.Min(2, rows - 1) * stride,
            R3 = first + Math.Min(3, rows - 1) * stride,
            R4 = first + Math.Min(4, rows - 1) * stride,
            R5 = first + Math.Min(5, rows - 1) * stride,
        };

        public static SixRows Table(float* a, int* offsets, int rows) => new()
        {
            R0 = a + offsets[0],
            R1 = a + offsets[Math.Min(1, rows - 1)],
            R2 = a + offsets[Math.Min(2, rows - 1)],
            R3 = a + offsets[Math.Min(3, rows - 1)],
            R4 = a + offsets[Math.Min(4, rows - 1)],
            R5 = a + offsets[Math.Min(5, rows - 1)],
        };
    }
}
