using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Sizes of a 2-D pooling over an NCHW batch (torch.nn.MaxPool2d / AvgPool2d without padding):
/// <c>OutHeight = (Height - KernelSize) / Stride + 1</c> (floor), likewise the width.
/// </summary>
public struct PoolShape
{
    public int Batch;
    public int Channels;
    public int Height;
    public int Width;
    public int KernelSize;
    public int Stride;
    public int OutHeight;
    public int OutWidth;

    public static PoolShape Create(int batch, int channels, int height, int width, int kernelSize, int stride) => new()
    {
        Batch = batch,
        Channels = channels,
        Height = height,
        Width = width,
        KernelSize = kernelSize,
        Stride = stride,
        OutHeight = (height - kernelSize) / stride + 1,
        OutWidth = (width - kernelSize) / stride + 1,
    };
}

/// <summary>
/// Max and average pooling over windows of KernelSize^2 with a stride:
/// <code>
///   max:  y[b, c, oh, ow] = max over the window x[b, c, oh s + ki, ow s + kj]   (index of the first maximum kept)
///   avg:  y[b, c, oh, ow] = mean over the window
/// </code>
/// Backward is written as a gather (each input element sums the output gradients of the windows
/// that contain it), so overlapping windows need no atomics and results are deterministic. Max
/// routes each gradient to the first maximum of its window, a NaN counting as the maximum and the
/// last of several NaNs winning, as PyTorch's CPU kernel does; the average counts every window
/// element (no padding here).
/// </summary>
public static class PoolingKernels
{
    /// <summary>Max pooling; <c>indices</c> receives the flat input index of each window's maximum. n = Batch * Channels * OutHeight * OutWidth.</summary>
    [Kernel]
    public static void MaxPool(Index1D index, ArrayView<float> x, ArrayView<float> y, ArrayView<int> indices, PoolShape s, int n, int stride)
    {
        for (int o = index; o < n; o += stride)
        {
            int ow = o % s.OutWidth;
            int rest = o / s.OutWidth;
            int oh = rest % s.OutHeight;
            int plane = rest / s.OutHeight; // b * Channels + c
            int top = oh * s.Stride, left = ow * s.Stride;
            int best = (plane * s.Height + top) * s.Width + left;
            float max = x[best];
            for (int ki = 0; ki < s.KernelSize; ki++)
            {
                for (int kj = 0; kj < s.KernelSize; kj++)
                {
                    int at = (plane * s.Height + top + ki) * s.Width + left + kj;
                    float v = x[at];
                    // As PyTorch's CPU kernel: a NaN is the maximum, and a later NaN takes over (its
                    // index receives the gradient); among equal numbers the first stays.
                    if (v > max || float.IsNaN(v))
                    {
                        max = v;
                        best = at;
                    }
                }
            }

            y[o] = max;
            indices[o] = best;
        }
    }

    /// <summary>dx[i] = sum of dy over the windows whose maximum was x[i]. n = Batch * Channels * Height * Width.</summary>
    [Kernel]
    public static void MaxPoolBackward(Index1D index, ArrayView<float> dy, ArrayView<int> indices, ArrayView<float> dx, PoolShape s, int n, int stride)
    {
        for (int i = index; i < n; i += stride)
        {
            int iw = i % s.Width;
            int rest = i / s.Width;
            int ih = rest % s.Height;
            int plane = rest / s.Height;
            float sum = 0f;
            for (int oh = First(ih, s.KernelSize, s.Stride); oh <= Last(ih, s.Stride, s.OutHeight); oh++)
            {
                for (int ow = First(iw, s.KernelSize, s.Stride); ow <= Last(iw, s.Stride, s.OutWidth); ow++)
                {
                    int o = (plane * s.OutHeight + oh) * s.OutWidth + ow;
                    if (indices[o] == i)
                        sum += dy[o];
                }
            }

            dx[i] = sum;
        }
    }

    /// <summary>Average pooling. n = Batch * Channels * OutHeight * OutWidth.</summary>
    [Kernel]
    public static void AvgPool(Index1D index, ArrayView<float> x, ArrayView<float> y, PoolShape s, int n, int stride)
    {
        float inverse = 1f / (s.KernelSize * s.KernelSize);
        for (int o = index; o < n; o += stride)
        {
            int ow = o % s.OutWidth;
            int rest = o / s.OutWidth;
            int oh = rest % s.OutHeight;
            int plane = rest / s.OutHeight;
            float sum = 0f;
            for (int ki = 0; ki < s.KernelSize; ki++)
            {
                int row = (plane * s.Height + oh * s.Stride + ki) * s.Width + ow * s.Stride;
                for (int kj = 0; kj < s.KernelSize; kj++)
                    sum += x[row + kj];
            }

            y[o] = sum * inverse;
        }
    }

    /// <summary>dx[i] = sum of dy / KernelSize^2 over the windows containing x[i]. n = Batch * Channels * Height * Width.</summary>
    [Kernel]
    public static void AvgPoolBackward(Index1D index, ArrayView<float> dy, ArrayView<float> dx, PoolShape s, int n, int stride)
    {
        float inverse = 1f / (s.KernelSize * s.KernelSize);
        for (int i = index; i < n; i += stride)
        {
            int iw = i % s.Width;
            int rest = i / s.Width;
            int ih = rest % s.Height;
            int plane = rest / s.Height;
            float sum = 0f;
            for (int oh = First(ih, s.KernelSize, s.Stride); oh <= Last(ih, s.Stride, s.OutHeight); oh++)
            {
                for (int ow = First(iw, s.KernelSize, s.Stride); ow <= Last(iw, s.Stride, s.OutWidth); ow++)
                    sum += dy[(plane * s.OutHeight + oh) * s.OutWidth + ow];
            }

            dx[i] = sum * inverse;
        }
    }

    /// <summary>The first output position whose window (start o * stride, length kernel) contains input position i.</summary>
    public static int First(int i, int kernel, int stride)
    {
        int from = i - kernel + 1;
        return from <= 0 ? 0 : (from + stride - 1) / stride;
    }

    /// <summary>The last output position whose window contains input position i, clamped to the output.</summary>
    public static int Last(int i, int stride, int outputs)
    {
        int last = i / stride;
        return last < outputs - 1 ? last : outputs - 1;
    }
}
