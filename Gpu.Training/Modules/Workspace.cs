using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A reusable device matrix that grows with the batch: the first <c>rows</c> rows are handed out as
/// a view, so a model allocates its activations once (for the largest batch) instead of every step.
/// The last view is kept and handed out again while the row count stays the same, so a training
/// step allocates no view objects either.
/// </summary>
internal sealed class Workspace : IDisposable
{
    private Tensor? buffer;
    private Tensor? view;

    public Tensor Rows(Device device, int rows, int columns)
    {
        if (buffer is null || buffer.IsDisposed || !ReferenceEquals(buffer.Device, device) || buffer.Shape[0] < rows || buffer.Shape[1] != columns)
        {
            buffer?.Dispose();
            buffer = device.Zeros(Math.Max(rows, 1), columns);
            view = null;
        }

        if (view is null || view.IsDisposed || view.Shape[0] != rows)
            view = buffer.Rows(0, rows);
        return view;
    }

    public void Dispose()
    {
        buffer?.Dispose();
        buffer = null;
        view = null;
    }
}
