using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Sizes of a 2-D convolution over an NCHW batch (torch.nn.Conv2d with square kernel, stride and
/// zero padding): input (Batch, Channels, Height, Width), output (Batch, out, OutHeight, OutWidth)
/// with <c>OutHeight = (Height + 2 Padding - KernelSize) / Stride + 1</c> (floor), likewise the width.
/// </summary>
public struct ConvShape
{
    public int Batch;
    public int Channels;
    public int Height;
    public int Width;
    public int KernelSize;
    public int Stride;
    public int Padding;
    public int OutHeight;
    public int OutWidth;

    /// <summary>Output positions per image: <c>OutHeight * OutWidth</c>.</summary>
    public readonly int Positions => OutHeight * OutWidth;

    /// <summary>Values under one kernel placement: <c>Channels * KernelSize^2</c> (a row of the patch matrix).</summary>
    public readonly int PatchLength => Channels * KernelSize * KernelSize;

    public static ConvShape Create(int batch, int channels, int height, int width, int kernelSize, int stride, int padding) => new()
    {
        Batch = batch,
        Channels = channels,
        Height = height,
        Width = width,
        KernelSize = kernelSize,
        Stride = stride,
        Padding = padding,
        OutHeight = (height + 2 * padding - kernelSize) / stride + 1,
        OutWidth = (width + 2 * padding - kernelSize) / stride + 1,
    };
}

/// <summary>
/// Convolution as a matrix product (the im2col method, here in its row form). With
/// <c>P = OutHeight * OutWidth</c> and <c>K = Channels * KernelSize^2</c>:
/// <code>
///   patches (Batch * P, K):  patches[b P + p, (c, ki, kj)] = x[b, c, oh s - pad + ki, ow s - pad + kj]   (0 outside)
///   y2 (Batch * P, out)   =  patches W^T + bias       (W (out, in, kh, kw) read as (out, K): a Linear)
///   y (Batch, out, P)     =  y2 transposed per image  (NCHW)
/// </code>
/// Backward runs the same steps in reverse: <c>dy2</c> is <c>dy</c> transposed per image,
/// <c>dW += dy2^T patches</c>, <c>db += column sums of dy2</c>, <c>dpatches = dy2 W</c>, and
/// <see cref="PatchesBackward"/> sums each input's patch entries back into <c>dx</c>. Every output
/// element is computed by one thread with a fixed order of terms (no atomics), so results are
/// deterministic. Matches torch.nn.functional.conv2d (cross-correlation, as PyTorch computes it).
/// </summary>
public static class ConvolutionKernels
{
    /// <summary>The patch matrix: one thread per element of (Batch * P, K); n = Batch * P * K.</summary>
    [Kernel]
    public static void Patches(Index1D index, ArrayView<float> x, ArrayView<float> patches, ConvShape s, int n, int stride)
    {
        int patch = s.PatchLength;
        int positions = s.Positions;
        int area = s.KernelSize * s.KernelSize;
        for (int i = index; i < n; i += stride)
        {
            int row = i / patch;
            int column = i - row * patch;
            int b = row / positions;
            int p = row - b * positions;
            int oh = p / s.OutWidth;
            int ow = p - oh * s.OutWidth;
            int c = column / area;
            int r = column - c * area;
            int ki = r / s.KernelSize;
            int kj = r - ki * s.KernelSize;
            int ih = oh * s.Stride - s.Padding + ki;
            int iw = ow * s.Stride - s.Padding + kj;
            patches[i] = ih >= 0 && ih < s.Height && iw >= 0 && iw < s.Width
                ? x[((b * s.Channels + c) * s.Height + ih) * s.Width + iw]
                : 0f;
        }
    }

    /// <summary>
    /// The input gradient from the patch gradient: <c>dx[b, c, ih, iw]</c> is the sum of the entries
    /// of <paramref name="dpatches"/> that <see cref="Patches"/> copied from <c>x[b, c, ih, iw]</c>,
    /// in increasing (ki, kj) order. One thread per input element; n = Batch * Channels * Height * Width.
    /// </summary>
    [Kernel]
    public static void PatchesBackward(Index1D index, ArrayView<float> dpatches, ArrayView<float> dx, ConvShape s, int n, int stride)
    {
        int patch = s.PatchLength;
        int area = s.KernelSize * s.KernelSize;
        for (int i = index; i < n; i += stride)
        {
            int iw = i % s.Width;
            int rest = i / s.Width;
            int ih = rest % s.Height;
            rest /= s.Height;
            int c = rest % s.Channels;
            int b = rest / s.Channels;
            float sum = 0f;
            for (int ki = 0; ki < s.KernelSize; ki++)
            {
                int hs = ih + s.Padding - ki; // = oh * Stride when this ki reaches ih
                if (hs < 0 || hs % s.Stride != 0 || hs / s.Stride >= s.OutHeight)
                    continue;
                int oh = hs / s.Stride;
                for (int kj = 0; kj < s.KernelSize; kj++)
                {
                    int ws = iw + s.Padding - kj;
                    if (ws < 0 || ws % s.Stride != 0 || ws / s.Stride >= s.OutWidth)
                        continue;
                    int row = (b * s.OutHeight + oh) * s.OutWidth + ws / s.Stride;
                    sum += dpatches[row * patch + c * area + ki * s.KernelSize + kj];
                }
            }

            dx[i] = sum;
        }
    }

    /// <summary>
    /// Transposes each of <c>batch</c> (rows, columns) matrices: <c>y[b, j, i] = x[b, i, j]</c>.
    /// One thread per output element, so the writes are contiguous; n = batch * rows * columns.
    /// </summary>
    [Kernel]
    public static void BatchedTranspose(Index1D index, ArrayView<float> x, ArrayView<float> y, int rows, int columns, int n, int stride)
    {
        int size = rows * columns;
        for (int o = index; o < n; o += stride)
        {
            int b = o / size;
            int rest = o - b * size;
            int j = rest / rows;
            int i = rest - j * rows;
            y[o] = x[b * size + i * columns + j];
        }
    }
}
