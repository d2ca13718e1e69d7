using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime;

/// <summary>32-bit integer indices on a device (a mini-batch permutation, say). Owns its buffer.</summary>
public sealed class IndexBuffer : IDisposable
{
    private readonly MemoryBuffer1D<int, Stride1D.Dense> buffer;
    private bool disposed;

    internal IndexBuffer(Device device, int length)
    {
        Device = device;
        Length = length;
        buffer = device.Accelerator.Allocate1D<int>(Math.Max(length, 1));
    }

    public Device Device { get; }

    public int Length { get; }

    public bool IsDisposed => disposed || Device.IsDisposed;

    /// <summary>Smallest index last copied in (launchers check it against the rows they index).</summary>
    public int Min { get; private set; }

    /// <summary>Largest index last copied in.</summary>
    public int Max { get; private set; }

    /// <summary>The contiguous view kernel parameters take.</summary>
    internal ArrayView<int> Flat => View.AsContiguous();

    public ArrayView1D<int, Stride1D.Dense> View
    {
        get
        {
            if (IsDisposed)
                throw new ObjectDisposedException(nameof(IndexBuffer), $"Index buffer of {Length} elements has been disposed.");
            return buffer.View.SubView(0, Length);
        }
    }

    /// <summary>The indices in host memory (CPU devices only, for the host fast path).</summary>
    internal unsafe ReadOnlySpan<int> HostSpan
    {
        get
        {
            _ = View; // throws when disposed
            return new ReadOnlySpan<int>((int*)buffer.NativePtr, Length);
        }
    }

    /// <summary>Pointer to the indices in host memory (CPU devices only, for the host fast path); valid while the buffer is alive.</summary>
    internal unsafe int* HostPointer
    {
        get
        {
            _ = View; // throws when disposed
            return (int*)buffer.NativePtr;
        }
    }

    /// <summary>Overwrites the indices with host data (synchronises the device).</summary>
    public void CopyFrom(ReadOnlySpan<int> source)
    {
        if (source.Length != Length)
            throw new ArgumentException($"CopyFrom: index buffer has {Length} elements but the source has {source.Length}.", nameof(source));
        if (Length > 0)
        {
            int min = int.MaxValue, max = int.MinValue;
            foreach (int index in source)
            {
                min = Math.Min(min, index);
                max = Math.Max(max, index);
            }

            Min = min;
            Max = max;
            View.CopyFromCPU(Device.Stream, source);
        }

        Device.Stream.Synchronize();
    }

    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        buffer.Dispose();
    }
}
