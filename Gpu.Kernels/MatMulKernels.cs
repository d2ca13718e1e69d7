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
/// threads each own blocks of four rows of C and stream through K in cache-friendly order.</item>
/// <item><see cref="Tiled"/>: for GPUs. A 16x16 group computes a 64x64 tile of C through shared memory,
/// each thread a 4x4 register block, stepping through K sixteen at a time.</item>
/// </list>
/// Every output is summed over k in increasing order by one thread, so results are deterministic.
/// </summary>
public static class MatMulKernels
{
    /// <summary>Rows of C per block in <see cref="RowBlocked"/>.</summary>
    public const int RowBlock = 4;

    /// <summary>Rows and columns of the C tile computed by one group of <see cref="Tiled"/>.</summary>
    public const int Tile = 64;

    /// <summary>Depth of the K slice staged in shared memory per iteration of <see cref="Tiled"/>.</summary>
    public const int TileK = 16;

    /// <summary>Threads per group side in <see cref="Tiled"/> (16 x 16 = 256 threads, 4 x 4 outputs each).</summary>
    public const int GroupSide = 16;

    // Shared tiles are stored [k][row] with one float of padding so that the transposing stores do not
    // all land in one bank.
    private const int TilePitch = Tile + 1;

    /// <summary>
    /// CPU-shaped matrix product. Launch with <c>threads</c> logical threads (cores x warp size); thread t
    /// computes row blocks t, t + threads, ... When B is contiguous along j (NN, TN) it accumulates
    /// rows of B scaled by A (axpy order); otherwise (NT) it takes dot products along k, where both
    /// operands are contiguous.
    /// </summary>
    [Kernel]
    public static void RowBlocked(
        Index1D thread, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int threads)
    {
        int m = s.M;
        int blocks = (m + RowBlock - 1) / RowBlock;
        for (int block = thread; block < blocks; block += threads)
        {
            int firstRow = block * RowBlock;
            int lastRow = firstRow + RowBlock < m ? firstRow + RowBlock : m;
            for (int i = firstRow; i < lastRow; i++)
            {
                if (s.BColStride == 1)
                    AxpyRow(a, b, c, bias, s, i);
                else
                    DotRow(a, b, c, bias, s, i);
            }
        }
    }

    // C[i, :] = (C[i, :] when accumulating) + sum_k A[i, k] * B[k, :], B rows contiguous.
    private static void AxpyRow(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int i)
    {
        int n = s.N;
        int k = s.K;
        int rowStart = i * n;
        if (s.Accumulate == 0)
        {
            for (int j = 0; j < n; j++)
                c[rowStart + j] = 0f;
        }

        int aBase = i * s.ARowStride;
        int aStep = s.AColStride;
        int bStep = s.BRowStride;
        for (int kk = 0; kk < k; kk++)
        {
            float aik = a[aBase + kk * aStep];
            int bRow = kk * bStep;
            for (int j = 0; j < n; j++)
                c[rowStart + j] += aik * b[bRow + j];
        }

        Epilogue(c, bias, s, rowStart);
    }

    // C[i, j] = (C[i, j] when accumulating) + dot(A[i, :], B[:, j]), four columns at a time to reuse each load of A.
    private static void DotRow(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int i)
    {
        int n = s.N;
        int k = s.K;
        int rowStart = i * n;
        int aBase = i * s.ARowStride;
        int aStep = s.AColStride;
        int bRowStep = s.BRowStride;
        int bColStep = s.BColStride;
        int j = 0;
        for (; j + 4 <= n; j += 4)
        {
            float sum0 = 0f, sum1 = 0f, sum2 = 0f, sum3 = 0f;
            int b0 = j * bColStep;
            int b1 = b0 + bColStep;
            int b2 = b1 + bColStep;
            int b3 = b2 + bColStep;
            for (int kk = 0; kk < k; kk++)
            {
                float aik = a[aBase + kk * aStep];
                int offset = kk * bRowStep;
                sum0 += aik * b[b0 + offset];
                sum1 += aik * b[b1 + offset];
                sum2 += aik * b[b2 + offset];
                sum3 += aik * b[b3 + offset];
            }

            Write(c, s, rowStart + j, sum0);
            Write(c, s, rowStart + j + 1, sum1);
            Write(c, s, rowStart + j + 2, sum2);
            Write(c, s, rowStart + j + 3, sum3);
        }

        for (; j < n; j++)
        {
            float sum = 0f;
            int bColumn = j * bColStep;
            for (int kk = 0; kk < k; kk++)
                sum += a[aBase + kk * aStep] * b[bColumn + kk * bRowStep];
            Write(c, s, rowStart + j, sum);
        }

        Epilogue(c, bias, s, rowStart);
    }

    // C is read only in accumulate mode, so a C holding NaN from an earlier use never leaks in.
    private static void Write(ArrayView<float> c, MatMulShape s, int index, float sum) =>
        c[index] = s.Accumulate != 0 ? c[index] + sum : sum;

    private static void Epilogue(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int rowStart)
    {
        if (s.HasBias == 0)
            return;
        int n = s.N;
        for (int j = 0; j < n; j++)
            c[rowStart + j] += bias[j];
    }

    /// <summary>
    /// GPU-shaped matrix product. Launch with groups of (16, 16) threads on a grid of
    /// (ceil(N / 64), ceil(M / 64)) groups. Out-of-range elements of the staged tiles are zero, so
    /// any M, N, K works. The loads pick the mapping that keeps consecutive threads on consecutive
    /// addresses for the operand's layout (coalesced for NN, NT and TN).
    /// </summary>
    [Kernel(KernelGrouping.Explicit)]
    public static void Tiled(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, ArrayView<float> bias, MatMulShape s)
    {
        var aTile = SharedMemory.Allocate<float>(TileK * TilePitch);
        var bTile = SharedMemory.Allocate<float>(TileK * TilePitch);

        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int tid = ty * GroupSide + tx;
        int rowBase = Grid.IdxY * Tile;
        int colBase = Grid.IdxX * Tile;
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
        r0.Store(c, bias, s, rowBase + ty, colBase + tx);
        r1.Store(c, bias, s, rowBase + ty + GroupSide, colBase + tx);
        r2.Store(c, bias, s, rowBase + ty + 2 * GroupSide, colBase + tx);
        r3.Store(c, bias, s, rowBase + ty + 3 * GroupSide, colBase + tx);
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

        public readonly void Store(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int row, int col)
        {
            if (row >= s.M)
                return;
            StoreOne(c, bias, s, row, col, c0);
            StoreOne(c, bias, s, row, col + GroupSide, c1);
            StoreOne(c, bias, s, row, col + 2 * GroupSide, c2);
            StoreOne(c, bias, s, row, col + 3 * GroupSide, c3);
        }

        private static void StoreOne(ArrayView<float> c, ArrayView<float> bias, MatMulShape s, int row, int col, float value)
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
