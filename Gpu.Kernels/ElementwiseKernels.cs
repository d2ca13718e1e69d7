using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Elementwise kernels written as grid-stride loops: thread t handles t, t + stride, ...
/// The launcher passes the element count and the stride (the number of logical threads
/// launched) as scalars, because reading <c>view.Length</c> or <c>Grid.DimX * Group.DimX</c>
/// in the loop condition made these loops 50x slower on the CPU accelerator (docs/engineering-notes.md).
/// </summary>
public static class ElementwiseKernels
{
    /// <summary><c>y[i] = value</c>.</summary>
    [Kernel]
    public static void Fill(Index1D index, ArrayView<float> y, float value, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            y[i] = value;
    }

    /// <summary>
    /// ReLU, <c>y = max(x, 0)</c>, matching torch.nn.functional.relu: NaN propagates (NaN &lt;= 0 is false).
    /// x and y may be the same view (in place).
    /// </summary>
    [Kernel]
    public static void Relu(Index1D index, ArrayView<float> x, ArrayView<float> y, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            float v = x[i];
            y[i] = v <= 0f ? 0f : v;
        }
    }

    /// <summary>
    /// ReLU backward from the forward output: <c>dx = dy if y &gt; 0 else 0</c>. y &gt; 0 exactly when x &gt; 0,
    /// so the gradient at x = 0 is 0, PyTorch's convention (threshold_backward with threshold 0).
    /// </summary>
    [Kernel]
    public static void ReluBackward(Index1D index, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            dx[i] = y[i] > 0f ? dy[i] : 0f;
    }

    /// <summary><c>y[i] = a[i] * b[i]</c> (dropout applies its mask with it, forward and backward).</summary>
    [Kernel]
    public static void Multiply(Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            y[i] = a[i] * b[i];
    }

    /// <summary><c>y[i] = a[i] + b[i]</c> (a residual connection, and its gradient's two paths).</summary>
    [Kernel]
    public static void Add(Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            y[i] = a[i] + b[i];
    }

    /// <summary>Copies a bias row into every row of a (rows, width) matrix: <c>c[r, j] = bias[j]</c>.</summary>
    [Kernel]
    public static void BroadcastRows(Index1D index, ArrayView<float> bias, ArrayView<float> c, int width, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
            c[i] = bias[i % width];
    }

    /// <summary>
    /// Gathers rows for a mini-batch: <c>dst[r, j] = src[indices[offset + r], j]</c> for r in [0, rows).
    /// n = rows * width.
    /// </summary>
    [Kernel]
    public static void GatherRows(
        Index1D index, ArrayView<float> src, ArrayView<int> indices, ArrayView<float> dst, int offset, int width, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int row = i / width;
            int column = i - row * width;
            dst[i] = src[indices[offset + row] * width + column];
        }
    }
}
