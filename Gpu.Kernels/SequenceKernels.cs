using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// The small ops of sequence models, grid-stride loops over elements (PyTorch 1.13 semantics):
/// <code>
/// Embed         y[p, d] = W[ids[p], d]                         nn.Embedding (an id outside [0, V) gives NaN)
/// EmbedBackward dW[v, d] += sum of dy[p, d] over p with ids[p] = v, in increasing p   (no atomics: deterministic)
/// AddPositions  y[n, t, d] = x[n, t, d] + W[t, d]              a learned position table added to each sample
/// SwapAxes      y[b, a, c] = x[a, b, c]                        x.transpose(0, 1).contiguous() of (A, B, C)
/// TakeStep      y[n, h] = x[n, step, h]                        x[:, step] of (N, T, H)
/// PutStep       dx[n, t, h] = dy[n, h] when t = step, else 0   its backward
/// </code>
/// </summary>
public static class SequenceKernels
{
    /// <summary>One thread per output element: its row of the table, or NaN for an id outside the table.</summary>
    [Kernel]
    public static void Embed(Index1D index, ArrayView<float> ids, ArrayView<float> weight, ArrayView<float> y, int dim, int vocabulary, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int p = i / dim;
            int v = Row(ids[p], vocabulary);
            y[i] = v >= 0 ? weight[v * dim + (i - p * dim)] : float.NaN;
        }
    }

    /// <summary>
    /// One thread per column d of the table: it walks the positions in order and adds each one's
    /// gradient to the row of its id, so every sum has one fixed order whatever the launch.
    /// </summary>
    [Kernel]
    public static void EmbedBackward(Index1D index, ArrayView<float> ids, ArrayView<float> dy, ArrayView<float> dweight, int positions, int dim, int vocabulary, int stride)
    {
        for (int d = index; d < dim; d += stride)
        {
            for (int p = 0; p < positions; p++)
            {
                int v = Row(ids[p], vocabulary);
                if (v >= 0)
                    dweight[v * dim + d] += dy[p * dim + d];
            }
        }
    }

    /// <summary><c>y[i] = x[i] + table[i mod (T D)]</c> over (N, T, D) values.</summary>
    [Kernel]
    public static void AddPositions(Index1D index, ArrayView<float> x, ArrayView<float> table, ArrayView<float> y, int block, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            y[i] = x[i] + table[i % block];
    }

    /// <summary>(A, B, C) to (B, A, C): batch-first sequences to time-major and back.</summary>
    [Kernel]
    public static void SwapAxes(Index1D index, ArrayView<float> x, ArrayView<float> y, int a, int b, int c, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int k = i % c, rest = i / c;
            int ai = rest % a, bi = rest / a; // y[bi, ai, k]
            y[i] = x[(ai * b + bi) * c + k];
        }
    }

    /// <summary><c>y[r, h] = x[r, step, h]</c> for r over the samples of (rows, T, H).</summary>
    [Kernel]
    public static void TakeStep(Index1D index, ArrayView<float> x, ArrayView<float> y, int steps, int width, int step, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int r = i / width;
            y[i] = x[(r * steps + step) * width + (i - r * width)];
        }
    }

    /// <summary><c>dx[r, t, h] = dy[r, h]</c> where t = step, else 0, over all (rows, T, H) values.</summary>
    [Kernel]
    public static void PutStep(Index1D index, ArrayView<float> dy, ArrayView<float> dx, int steps, int width, int step, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int h = i % width, rest = i / width;
            int t = rest % steps, r = rest / steps;
            dx[i] = t == step ? dy[r * width + h] : 0f;
        }
    }

    /// <summary>The table row of an id held as a float: the id itself, or -1 outside [0, V) or when it is not a whole number.</summary>
    public static int Row(float id, int vocabulary)
    {
        int v = (int)id;
        return v >= 0 && v < vocabulary && v == id ? v : -1;
    }
}
