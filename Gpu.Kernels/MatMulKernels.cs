using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Single-precision matrix product with a fused bias epilogue:
/// <code>
///   C[i, j] = (Accumulate ? C[i, j] : 0) + sum_k op(A)[i, k] * op(B)[k, j] + (HasBias ? bias[j] : 0)
/// </code>
/// which is torch.addmm / the forward of torch.nn.Linear (<c>y = x W^T + b</c>, the NT form) and its
/// gradients (<c>dX = dY W</c>, NN; <c>dW += dY^T X</c>, TN). See <see cref="MatMulShape"/> for the layout.
/// Two implementations, chosen per accelerator by the runtime:
/// <list type="bullet">
/// <item><see cref="RowBlocked"/>: for the CPU accelerator, where a logical thread is expensive. A few
/// threads each own bands of four rows of C and compute them in 4x4 register blocks.</item>
/// <item><see cref="Tiled"/>: for GPUs, the simple reference. A 16x16 group computes a 64x64 tile of C
/// through shared memory, each thread a 4x4 register block, stepping through K sixteen at a time.</item>
/// <item><see cref="RegisterTiled"/>: for GPUs without cuBLAS, the fast one. A 16x16 group computes a
/// 128x128 tile, each thread an 8x8 register block, stepping through K eight at a time.</item>
/// </list>
/// Every output is summed over k in increasing order by one thread, so results are deterministic.
/// </summary>
public static class MatMulKernels
{
    /// <summary>Rows (and columns) of C per register block in <see cref="RowBlocked"/>.</summary>
    public const int RowBlock = 4;

    /// <summary>Rows and columns of the C tile computed by one group of <see cref="Tiled"/>.</summary>
    public const int Tile = 64;

    /// <summary>Depth of the K slice staged in shared memory per iteration of <see cref="Tiled"/>.</summary>
    public const int TileK = 16;

    /// <summary>Threads per group side in <see cref="Tiled"/> (16 x 16 = 256 threads, 4 x 4 outputs each).</summary>
    public const int GroupSide = 16;

    // Shared tiles are stored [k][row] with two floats of padding: with a pitch of Tile + 1 the
    // transposing stores of the two half-warps (rows r and r + 1) met in 15 of the 32 banks (2-way
    // conflicts); with Tile + 2 (66 = 2 mod 32) one half-warp takes the even banks and the other the odd.
    private const int TilePitch = Tile + 2;

    /// <summary>Rows and columns of the C tile computed by one group of <see cref="RegisterTiled"/>.</summary>
    public const int BigTile = 128;

    /// <summary>Depth of the K slice staged in shared memory per iteration of <see cref="RegisterTiled"/>.</summary>
    public const int BigTileK = 8;

    private const int BigPitch = BigTile + 2;

    /// <summary>
    /// CPU-shaped matrix product. Launch with <c>threads</c> logical threads (cores x warp size);
    /// thread t owns the bands of four rows t, t + threads, ... and walks each band in 4x4 blocks of
    /// C held in registers: per step of k it loads four elements of op(A) and four of op(B) for
    /// sixteen multiply-adds. On the CPU accelerator every view access costs far more than the
    /// arithmetic, so loads per multiply-add is what decides the speed. Edge blocks clamp their
    /// load indices into the matrix and store only the elements that exist.
    /// </summary>
    [Kernel]
    public static void RowBlocked(
        Index1D thread, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int threads)
    {
        int m = s.M;
        int n = s.N;
        int k = s.K;
        int aStep = s.AColStride;
        int bStep = s.BRowStride;
        int bands = (m + RowBlock - 1) / RowBlock;
        for (int band = thread; band < bands; band += threads)
        {
            int i0 = band * RowBlock;
            int aRow0 = Clamp(i0, m) * s.ARowStride;
            int aRow1 = Clamp(i0 + 1, m) * s.ARowStride;
            int aRow2 = Clamp(i0 + 2, m) * s.ARowStride;
            int aRow3 = Clamp(i0 + 3, m) * s.ARowStride;
            for (int j0 = 0; j0 < n; j0 += 4)
            {
                int bCol0 = Clamp(j0, n) * s.BColStride;
                int bCol1 = Clamp(j0 + 1, n) * s.BColStride;
                int bCol2 = Clamp(j0 + 2, n) * s.BColStride;
                int bCol3 = Clamp(j0 + 3, n) * s.BColStride;
                Row4 r0 = default, r1 = default, r2 = default, r3 = default;
                int aOffset = 0;
                int bOffset = 0;
                for (int kk = 0; kk < k; kk++)
                {
                    float y0 = b[bOffset + bCol0];
                    float y1 = b[bOffset + bCol1];
                    float y2 = b[bOffset + bCol2];
                    float y3 = b[bOffset + bCol3];
                    r0.Fma(a[aRow0 + aOffset], y0, y1, y2, y3);
                    r1.Fma(a[aRow1 + aOffset], y0, y1, y2, y3);
                    r2.Fma(a[aRow2 + aOffset], y0, y1, y2, y3);
                    r3.Fma(a[aRow3 + aOffset], y0, y1, y2, y3);
                    aOffset += aStep;
                    bOffset += bStep;
                }

                r0.Store(c, bias, s, i0, j0, 1);
                r1.Store(c, bias, s, i0 + 1, j0, 1);
                r2.Store(c, bias, s, i0 + 2, j0, 1);
                r3.Store(c, bias, s, i0 + 3, j0, 1);
            }
        }
    }

    // Index clamped into [0, count): edge blocks read valid memory and discard what they do not need.
    private static int Clamp(int index, int count) => index < count ? index : count - 1;

    /// <summary>
    /// GPU-shaped matrix product, the simple reference of <see cref="RegisterTiled"/>. Launch with
    /// groups of (16, 16) threads on a grid of (ceil(M / 64), ceil(N / 64)) groups (rows on X, whose
    /// limit is 2^31 - 1 groups: more than 4M rows would not fit in Y's 65,535). Out-of-range elements of the staged tiles are zero, so
    /// any M, N, K works. The loads pick the mapping that keeps consecutive threads on consecutive
    /// addresses for the operand's layout (coalesced for NN, NT and TN).
    /// </summary>
    [Kernel(KernelGrouping.Explicit, GroupSize = GroupSide * GroupSide)]
    public static void Tiled(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s)
    {
        var aTile = SharedMemory.Allocate<float>(TileK * TilePitch);
        var bTile = SharedMemory.Allocate<float>(TileK * TilePitch);

        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int tid = ty * GroupSide + tx;
        int rowBase = Grid.IdxX * Tile;
        int colBase = Grid.IdxY * Tile;
        int m = s.M;
        int n = s.N;
        int k = s.K;

        Row4 r0 = default, r1 = default, r2 = default, r3 = default;

        for (int k0 = 0; k0 < k; k0 += TileK)
        {
            // Stage a (64 x 16) slice of op(A) and a (16 x 64) slice of op(B): 4 elements per thread each.
            for (int q = 0; q < Tile * TileK / (GroupSide * GroupSide); q++)
            {
                int e = tid + q * GroupSide * GroupSide;
                int row, kkA;
                if (s.AColStride == 1) { row = e / TileK; kkA = e % TileK; }
                else { kkA = e / Tile; row = e % Tile; }
                int gi = rowBase + row;
                int gkA = k0 + kkA;
                aTile[kkA * TilePitch + row] = gi < m && gkA < k ? a[gi * s.ARowStride + gkA * s.AColStride] : 0f;

                int col, kkB;
                if (s.BColStride == 1) { kkB = e / Tile; col = e % Tile; }
                else { col = e / TileK; kkB = e % TileK; }
                int gj = colBase + col;
                int gkB = k0 + kkB;
                bTile[kkB * TilePitch + col] = gj < n && gkB < k ? b[gkB * s.BRowStride + gj * s.BColStride] : 0f;
            }

            Group.Barrier();

            for (int kk = 0; kk < TileK; kk++)
            {
                int at = kk * TilePitch + ty;
                int bt = kk * TilePitch + tx;
                float b0 = bTile[bt];
                float b1 = bTile[bt + GroupSide];
                float b2 = bTile[bt + 2 * GroupSide];
                float b3 = bTile[bt + 3 * GroupSide];
                r0.Fma(aTile[at], b0, b1, b2, b3);
                r1.Fma(aTile[at + GroupSide], b0, b1, b2, b3);
                r2.Fma(aTile[at + 2 * GroupSide], b0, b1, b2, b3);
                r3.Fma(aTile[at + 3 * GroupSide], b0, b1, b2, b3);
            }

            Group.Barrier();
        }

        // Thread (tx, ty) owns rows ty + 16 r and columns tx + 16 c of the tile: consecutive threads
        // write consecutive columns.
        r0.Store(c, bias, s, rowBase + ty, colBase + tx, GroupSide);
        r1.Store(c, bias, s, rowBase + ty + GroupSide, colBase + tx, GroupSide);
        r2.Store(c, bias, s, rowBase + ty + 2 * GroupSide, colBase + tx, GroupSide);
        r3.Store(c, bias, s, rowBase + ty + 3 * GroupSide, colBase + tx, GroupSide);
    }

    /// <summary>
    /// The portable fast matrix product for GPUs without a vendor library (OpenCL, AMD, Intel):
    /// register-blocked. A group of (16, 16) threads computes a 128 x 128 tile of C, each thread an
    /// 8 x 8 block held in 64 registers (rows ty + 16 i, columns tx + 16 j), stepping through K eight
    /// at a time through shared memory: per step 16 loads from shared memory feed 64 multiply-adds,
    /// against 8 for 16 in <see cref="Tiled"/>. Launch on a grid of (ceil(M / 128), ceil(N / 128)).
    /// Out-of-range elements of the staged tiles are zero, so any M, N, K works.
    /// </summary>
    [Kernel(KernelGrouping.Explicit, GroupSize = GroupSide * GroupSide)]
    public static void RegisterTiled(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s)
    {
        var aTile = SharedMemory.Allocate<float>(BigTileK * BigPitch);
        var bTile = SharedMemory.Allocate<float>(BigTileK * BigPitch);

        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int tid = ty * GroupSide + tx;
        int rowBase = Grid.IdxX * BigTile;
        int colBase = Grid.IdxY * BigTile;
        int m = s.M;
        int n = s.N;
        int k = s.K;

        Row8 r0 = default, r1 = default, r2 = default, r3 = default, r4 = default, r5 = default, r6 = default, r7 = default;

        for (int k0 = 0; k0 < k; k0 += BigTileK)
        {
            // Stage a (128 x 8) slice of op(A) and an (8 x 128) slice of op(B): 4 elements per thread each,
            // consecutive threads on consecutive addresses for the operand's layout.
            for (int q = 0; q < BigTile * BigTileK / (GroupSide * GroupSide); q++)
            {
                int e = tid + q * GroupSide * GroupSide;
                int row, kkA;
                if (s.AColStride == 1) { row = e / BigTileK; kkA = e % BigTileK; }
                else { kkA = e / BigTile; row = e % BigTile; }
                int gi = rowBase + row;
                int gkA = k0 + kkA;
                aTile[kkA * BigPitch + row] = gi < m && gkA < k ? a[gi * s.ARowStride + gkA * s.AColStride] : 0f;

                int col, kkB;
                if (s.BColStride == 1) { kkB = e / BigTile; col = e % BigTile; }
                else { col = e / BigTileK; kkB = e % BigTileK; }
                int gj = colBase + col;
                int gkB = k0 + kkB;
                bTile[kkB * BigPitch + col] = gj < n && gkB < k ? b[gkB * s.BRowStride + gj * s.BColStride] : 0f;
            }

            Group.Barrier();

            for (int kk = 0; kk < BigTileK; kk++)
            {
                var bs = Row8.Load(bTile, kk * BigPitch + tx);
                int at = kk * BigPitch + ty;
                r0.Fma(aTile[at], bs);
                r1.Fma(aTile[at + GroupSide], bs);
                r2.Fma(aTile[at + 2 * GroupSide], bs);
                r3.Fma(aTile[at + 3 * GroupSide], bs);
                r4.Fma(aTile[at + 4 * GroupSide], bs);
                r5.Fma(aTile[at + 5 * GroupSide], bs);
                r6.Fma(aTile[at + 6 * GroupSide], bs);
                r7.Fma(aTile[at + 7 * GroupSide], bs);
            }

            Group.Barrier();
        }

        r0.Store(c, bias, s, rowBase + ty, colBase + tx);
        r1.Store(c, bias, s, rowBase + ty + GroupSide, colBase + tx);
        r2.Store(c, bias, s, rowBase + ty + 2 * GroupSide, colBase + tx);
        r3.Store(c, bias, s, rowBase + ty + 3 * GroupSide, colBase + tx);
        r4.Store(c, bias, s, rowBase + ty + 4 * GroupSide, colBase + tx);
        r5.Store(c, bias, s, rowBase + ty + 5 * GroupSide, colBase + tx);
        r6.Store(c, bias, s, rowBase + ty + 6 * GroupSide, colBase + tx);
        r7.Store(c, bias, s, rowBase + ty + 7 * GroupSide, colBase + tx);
    }

    /// <summary>Eight accumulators of one row of a thread's 8x8 register block (columns col + 16 j).</summary>
    private struct Row8
    {
        private float c0, c1, c2, c3, c4, c5, c6, c7;

        // Eight values 16 apart from shared memory: a thread's eight columns of one k.
        public static Row8 Load(ArrayView<float> tile, int at) => new()
        {
            c0 = tile[at],
            c1 = tile[at + GroupSide],
            c2 = tile[at + 2 * GroupSide],
            c3 = tile[at + 3 * GroupSide],
            c4 = tile[at + 4 * GroupSide],
            c5 = tile[at + 5 * GroupSide],
            c6 = tile[at + 6 * GroupSide],
            c7 = tile[at + 7 * GroupSide],
        };

        public void Fma(float a, Row8 b)
        {
            c0 += a * b.c0;
            c1 += a * b.c1;
            c2 += a * b.c2;
            c3 += a * b.c3;
            c4 += a * b.c4;
            c5 += a * b.c5;
            c6 += a * b.c6;
            c7 += a * b.c7;
        }

        public readonly void Store(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int row, int col)
        {
            if (row >= s.M)
                return;
            Row4.StoreOne(c, bias, s, row, col, c0);
            Row4.StoreOne(c, bias, s, row, col + GroupSide, c1);
            Row4.StoreOne(c, bias, s, row, col + 2 * GroupSide, c2);
            Row4.StoreOne(c, bias, s, row, col + 3 * GroupSide, c3);
            Row4.StoreOne(c, bias, s, row, col + 4 * GroupSide, c4);
            Row4.StoreOne(c, bias, s, row, col + 5 * GroupSide, c5);
            Row4.StoreOne(c, bias, s, row, col + 6 * GroupSide, c6);
            Row4.StoreOne(c, bias, s, row, col + 7 * GroupSide, c7);
        }
    }

    /// <summary>Four accumulators of one row of a thread's 4x4 register block.</summary>
    private struct Row4
    {
        private float c0, c1, c2, c3;

        public void Fma(float a, float b0, float b1, float b2, float b3)
        {
            c0 += a * b0;
            c1 += a * b1;
            c2 += a * b2;
            c3 += a * b3;
        }

        // Writes the four accumulators to columns col, col + step, col + 2 step, col + 3 step of a row.
        public readonly void Store(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int row, int col, int step)
        {
            if (row >= s.M)
                return;
            StoreOne(c, bias, s, row, col, c0);
            StoreOne(c, bias, s, row, col + step, c1);
            StoreOne(c, bias, s, row, col + 2 * step, c2);
            StoreOne(c, bias, s, row, col + 3 * step, c3);
        }

        public static void StoreOne(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int row, int col, float value)
        {
            if (col >= s.N)
                return;
            int index = row * s.N + col;
            if (s.HasBias != 0)
                value += bias[col];
            if (s.Accumulate != 0)
                value += c[index];
            c[index] = value;
        }
    }
}
