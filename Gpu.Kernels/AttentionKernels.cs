using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// Fused multi-head self-attention (FlashAttention's recurrence; nanoGPT's CausalSelfAttention
/// semantics): for each head, <c>y = softmax(q k^T / sqrt(d) + mask) v</c>, never holding the T x T
/// weights in device memory. q, k and v are read in place from the (N, T, 3D) projection and y is
/// written in place into (N, T, D), heads side by side, so no transposes are needed.
/// <code>
/// Forward          one group per (sample, head, tile of query rows), a thread per query row: the
///                  keys and values of each key tile staged in shared memory; per tile the scores,
///                  their maximum, one rescale of the running sum l and output (online softmax);
///                  causal tiles wholly above the diagonal are never visited. Writes y and
///                  lse = max + log(l) per row (N, H, T), all backward needs besides q, k, v.
/// BackwardDelta    delta_i = sum_d dy_i,d y_i,d  (= sum_j P_ij dP_ij), one thread per row.
/// BackwardKeys     one thread per key row j: P_ij = exp(q_i k_j s - lse_i) recomputed over the
///                  query tiles that see it; dv_j = sum_i P_ij dy_i; dS_ij = P_ij (dy_i v_j - delta_i);
///                  dk_j = s sum_i dS_ij q_i.
/// BackwardQueries  one thread per query row i: dq_i = s sum_j dS_ij k_j.
/// </code>
/// Every output element is summed by one thread in a fixed order: no atomics, deterministic.
/// Dropout on the weights (training) multiplies P_ij by a mask drawn from (seed, step, index) as
/// <see cref="RandomKernels"/> draws, recomputed identically in backward. Groups have at most
/// <see cref="MaxTile"/> threads (the tile size is the group size) and heads at most
/// <see cref="MaxHeadDim"/> columns.
/// </summary>
public static class AttentionKernels
{
    /// <summary>Largest group (and tile of rows).</summary>
    public const int MaxTile = 32;

    /// <summary>Largest head width the per-thread arrays and shared tiles hold.</summary>
    public const int MaxHeadDim = 128;

    /// <summary>Groups of the forward and backward-key/query kernels: N H ceil(T / tile).</summary>
    public static int Groups(AttentionShape s, int tile) => s.Batch * s.Heads * ((s.Steps + tile - 1) / tile);

    [Kernel(KernelGrouping.Explicit)]
    public static void Forward(ArrayView<float> qkv, ArrayView<float> y, ArrayView<float> lse, AttentionShape s)
    {
        var keys = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var values = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var q = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        var scores = LocalMemory.Allocate<float>(MaxTile);
        int tile = Group.DimX, tid = Group.IdxX, d = s.HeadDim;
        Locate(s, tile, out int n, out int h, out int rowTile);
        int i = rowTile * tile + tid;
        bool active = i < s.Steps;
        if (active)
        {
            int at = s.Offset(n, i, 0, h);
            for (int c = 0; c < d; c++)
            {
                q[c] = qkv[at + c];
                acc[c] = 0f;
            }
        }

        float m = float.NegativeInfinity, l = 0f;
        int seen = active ? s.KeysSeen(i) : 0;
        int keyEnd = s.Causal != 0 ? XMath.Min(s.Steps, (rowTile + 1) * tile) : s.Steps;
        for (int k0 = 0; k0 < keyEnd; k0 += tile)
        {
            Stage(qkv, keys, values, s, n, h, k0 + tid, tid);
            Group.Barrier();
            int count = XMath.Min(tile, seen - k0);
            if (count > 0)
            {
                float tileMax = float.NegativeInfinity;
                for (int jj = 0; jj < count; jj++)
                {
                    float dot = 0f;
                    for (int c = 0; c < d; c++)
                        dot += q[c] * keys[jj * d + c];
                    scores[jj] = dot * s.Scale;
                    tileMax = XMath.Max(tileMax, scores[jj]);
                }

                float next = XMath.Max(m, tileMax);
                float correction = XMath.Exp(m - next);
                l *= correction;
                for (int c = 0; c < d; c++)
                    acc[c] *= correction;
                for (int jj = 0; jj < count; jj++)
                {
                    float p = XMath.Exp(scores[jj] - next);
                    l += p;
                    float w = p * s.Keep(n, h, i, k0 + jj);
                    for (int c = 0; c < d; c++)
                        acc[c] += w * values[jj * d + c];
                }

                m = next;
            }

            Group.Barrier();
        }

        if (active)
        {
            float inverse = 1f / l;
            int at = s.OutputOffset(n, i, h);
            for (int c = 0; c < d; c++)
                y[at + c] = acc[c] * inverse;
            lse[(n * s.Heads + h) * s.Steps + i] = m + XMath.Log(l);
        }
    }

    /// <summary>delta (N, H, T): each row's dy . y, over its head's columns.</summary>
    [Kernel]
    public static void BackwardDelta(Index1D index, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> delta, AttentionShape s, int n, int stride)
    {
        for (int r = index; r < n; r += stride)
        {
            int i = r % s.Steps, nh = r / s.Steps, h = nh % s.Heads, sample = nh / s.Heads;
            int at = s.OutputOffset(sample, i, h);
            float sum = 0f;
            for (int c = 0; c < s.HeadDim; c++)
                sum += dy[at + c] * y[at + c];
            delta[r] = sum;
        }
    }

    [Kernel(KernelGrouping.Explicit)]
    public static void BackwardKeys(ArrayView<float> qkv, ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dqkv, AttentionShape s)
    {
        var queries = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var gradients = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var rowLse = SharedMemory.Allocate<float>(MaxTile);
        var rowDelta = SharedMemory.Allocate<float>(MaxTile);
        var k = LocalMemory.Allocate<float>(MaxHeadDim);
        var v = LocalMemory.Allocate<float>(MaxHeadDim);
        var dk = LocalMemory.Allocate<float>(MaxHeadDim);
        var dv = LocalMemory.Allocate<float>(MaxHeadDim);
        int tile = Group.DimX, tid = Group.IdxX, d = s.HeadDim;
        Locate(s, tile, out int n, out int h, out int keyTile);
        int j = keyTile * tile + tid;
        bool active = j < s.Steps;
        if (active)
        {
            int kAt = s.Offset(n, j, 1, h), vAt = s.Offset(n, j, 2, h);
            for (int c = 0; c < d; c++)
            {
                k[c] = qkv[kAt + c];
                v[c] = qkv[vAt + c];
                dk[c] = 0f;
                dv[c] = 0f;
            }
        }

        int rowBase = (n * s.Heads + h) * s.Steps;
        for (int q0 = s.Causal != 0 ? keyTile * tile : 0; q0 < s.Steps; q0 += tile)
        {
            int row = q0 + tid;
            if (row < s.Steps)
            {
                int qAt = s.Offset(n, row, 0, h), gAt = s.OutputOffset(n, row, h);
                for (int c = 0; c < d; c++)
                {
                    queries[tid * d + c] = qkv[qAt + c];
                    gradients[tid * d + c] = dy[gAt + c];
                }

                rowLse[tid] = lse[rowBase + row];
                rowDelta[tid] = delta[rowBase + row];
            }

            Group.Barrier();
            if (active)
            {
                for (int ii = 0; ii < tile; ii++)
                {
                    int i = q0 + ii;
                    if (i >= s.Steps || (s.Causal != 0 && j > i))
                        continue;
                    float dot = 0f, dp = 0f;
                    for (int c = 0; c < d; c++)
                    {
                        dot += queries[ii * d + c] * k[c];
                        dp += gradients[ii * d + c] * v[c];
                    }

                    float p = XMath.Exp(dot * s.Scale - rowLse[ii]);
                    float keep = s.Keep(n, h, i, j);
                    float ds = p * (dp * keep - rowDelta[ii]) * s.Scale;
                    float w = p * keep;
                    for (int c = 0; c < d; c++)
                    {
                        dv[c] += w * gradients[ii * d + c];
                        dk[c] += ds * queries[ii * d + c];
                    }
                }
            }

            Group.Barrier();
        }

        if (active)
        {
            int kAt = s.Offset(n, j, 1, h), vAt = s.Offset(n, j, 2, h);
            for (int c = 0; c < d; c++)
            {
                dqkv[kAt + c] = dk[c];
                dqkv[vAt + c] = dv[c];
            }
        }
    }

    [Kernel(KernelGrouping.Explicit)]
    public static void BackwardQueries(ArrayView<float> qkv, ArrayView<float> dy, ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dqkv, AttentionShape s)
    {
        var keys = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var values = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var q = LocalMemory.Allocate<float>(MaxHeadDim);
        var g = LocalMemory.Allocate<float>(MaxHeadDim);
        var dq = LocalMemory.Allocate<float>(MaxHeadDim);
        int tile = Group.DimX, tid = Group.IdxX, d = s.HeadDim;
        Locate(s, tile, out int n, out int h, out int rowTile);
        int i = rowTile * tile + tid;
        bool active = i < s.Steps;
        float rowLse = 0f, rowDelta = 0f;
        if (active)
        {
            int qAt = s.Offset(n, i, 0, h), gAt = s.OutputOffset(n, i, h);
            for (int c = 0; c < d; c++)
            {
                q[c] = qkv[qAt + c];
                g[c] = dy[gAt + c];
                dq[c] = 0f;
            }

            rowLse = lse[(n * s.Heads + h) * s.Steps + i];
            rowDelta = delta[(n * s.Heads + h) * s.Steps + i];
        }

        int seen = active ? s.KeysSeen(i) : 0;
        int keyEnd = s.Causal != 0 ? XMath.Min(s.Steps, (rowTile + 1) * tile) : s.Steps;
        for (int k0 = 0; k0 < keyEnd; k0 += tile)
        {
            Stage(qkv, keys, values, s, n, h, k0 + tid, tid);
            Group.Barrier();
            int count = XMath.Min(tile, seen - k0);
            for (int jj = 0; jj < count; jj++)
            {
                float dot = 0f, dp = 0f;
                for (int c = 0; c < d; c++)
                {
                    dot += q[c] * keys[jj * d + c];
                    dp += g[c] * values[jj * d + c];
                }

                float p = XMath.Exp(dot * s.Scale - rowLse);
                float ds = p * (dp * s.Keep(n, h, i, k0 + jj) - rowDelta) * s.Scale;
                for (int c = 0; c < d; c++)
                    dq[c] += ds * keys[jj * d + c];
            }

            Group.Barrier();
        }

        if (active)
        {
            int qAt = s.Offset(n, i, 0, h);
            for (int c = 0; c < d; c++)
                dqkv[qAt + c] = dq[c];
        }
    }

    // The group's sample, head and tile of rows, from its index over N H tiles.
    private static void Locate(AttentionShape s, int tile, out int n, out int h, out int rowTile)
    {
        int tiles = (s.Steps + tile - 1) / tile;
        int block = Grid.IdxX;
        rowTile = block % tiles;
        int nh = block / tiles;
        h = nh % s.Heads;
        n = nh / s.Heads;
    }

    // Thread tid stages key and value row j (when it exists) into row tid of the shared tiles.
    private static void Stage(ArrayView<float> qkv, ArrayView<float> keys, ArrayView<float> values, AttentionShape s, int n, int h, int j, int tid)
    {
        if (j >= s.Steps)
            return;
        int kAt = s.Offset(n, j, 1, h), vAt = s.Offset(n, j, 2, h), d = s.HeadDim;
        for (int c = 0; c < d; c++)
        {
            keys[tid * d + c] = qkv[kAt + c];
            values[tid * d + c] = qkv[vAt + c];
        }
    }
}
