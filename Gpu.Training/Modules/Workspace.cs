using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A reusable device tensor that grows with the batch: a model allocates each activation once (for
/// the largest batch) instead of every step, and hands out a view of the first <c>batch</c> samples.
/// The last view is kept and handed out again while the batch size stays the same, so a training
/// step allocates no view objects either.
/// </summary>
internal sealed class Workspace : IDisposable
{
    private Tensor? buffer;
    private Tensor? view;
    private TensorShape? sample;

    /// <summary>A (batch, sample...) tensor; its contents are whatever the last user left.</summary>
    public Tensor Get(Device device, int batch, TensorShape sampleShape)
    {
        if (view is not null && !view.IsDisposed && view.Shape[0] == batch && ReferenceEquals(view.Device, device)
            && (ReferenceEquals(sample, sampleShape) || sampleShape.Equals(sample)))
        {
            return view;
        }

        long length = (long)Math.Max(batch, 1) * sampleShape.Length;
        if (buffer is null || buffer.IsDisposed || !ReferenceEquals(buffer.Device, device) || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = device.Zeros(new TensorShape(checked((int)length)), null);
        }

        sample = sampleShape;
        view = buffer.Slice(0, new TensorShape([batch, .. sampleShape.ToArray()]), null);
        return view;
    }

    /// <summary>A (rows, columns) matrix.</summary>
    public Tensor Rows(Device device, int rows, int columns)
    {
        if (view is not null && !view.IsDisposed && view.Rank == 2 && view.Shape[0] == rows && view.Shape[1] == columns && ReferenceEquals(view.Device, device))
            return view;
        return Get(device, rows, new TensorShape(columns));
    }

    public void Dispose()
    {
        buffer?.Dispose();
        buffer = null;
        view = null;
    }
}

/// <summary>
/// A reshaped view of a tensor, made once per source tensor: the modules' inputs and outputs are
/// views kept by workspaces, so the same source comes back every step and no view is allocated.
/// </summary>
internal sealed class ReshapedView
{
    private Tensor? source;
    private Tensor? view;

    /// <summary>A view of <paramref name="tensor"/> with <paramref name="shape"/> (same element count).</summary>
    public Tensor Of(Tensor tensor, TensorShape shape)
    {
        if (!ReferenceEquals(tensor, source) || view is null || view.IsDisposed || !view.Shape.Equals(shape))
        {
            source = tensor;
            view = tensor.Reshape(shape.ToArray());
        }

        return view;
    }

    /// <summary>A rank-3 view (a, b, c) of <paramref name="tensor"/>, compared without allocating.</summary>
    public Tensor Of(Tensor tensor, int a, int b, int c)
    {
        if (!ReferenceEquals(tensor, source) || view is null || view.IsDisposed || view.Rank != 3 || view.Shape[0] != a || view.Shape[1] != b || view.Shape[2] != c)
        {
            source = tensor;
            view = tensor.Reshape(a, b, c);
        }

        return view;
    }

    /// <summary>A view with the shape <paramref name="shape"/> computes from the tensor (called only when no view is cached).</summary>
    public Tensor Of(Tensor tensor, Func<Tensor, int[]> shape)
    {
        if (!ReferenceEquals(tensor, source) || view is null || view.IsDisposed)
        {
            source = tensor;
            view = tensor.Reshape(shape(tensor));
        }

        return view;
    }
}

/// <summary>A cached view of a range of rows of a tensor, made again only when the tensor or the range changes.</summary>
internal sealed class RowRangeView
{
    private Tensor? source;
    private Tensor? view;
    private int first;

    /// <summary>Rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of <paramref name="tensor"/>.</summary>
    public Tensor Of(Tensor tensor, int start, int count)
    {
        if (!ReferenceEquals(tensor, source) || view is null || view.IsDisposed || first != start || view.Shape[0] != count)
        {
            source = tensor;
            first = start;
            view = tensor.Rows(start, count);
        }

        return view;
    }
}
