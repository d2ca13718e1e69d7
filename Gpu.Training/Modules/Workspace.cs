using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A reusable device matrix that grows with the batch: the first <c>rows</c> rows are handed out as
/// a view, so a model allocates its activations once (for the largest batch) instead of every step.
/// </summary>
internal sealed class Workspace : IDisposable
{
    private Tensor? buffer;

    public Tensor Rows(Device device, int rows, int columns)
    {
        if (buffer is null || buffer.IsDisposed || !ReferenceEquals(buffer.Device, device) || buffer.Shape[0] < rows || buffer.Shape[1] != columns)
        {
            buffer?.Dispose();
            buffer = device.Zeros(Math.Max(rows, 1), columns);
        }

        return buffer.Rows(0, rows);
    }

    public void Dispose()
    {
        buffer?.Dispose();
        buffer = null;
    }
}
