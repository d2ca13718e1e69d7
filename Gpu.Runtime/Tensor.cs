using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime;

/// <summary>
/// A float32 array on a device with a row-major <see cref="TensorShape"/>.
/// <para>
/// Ownership: a tensor made by <c>Device.Zeros</c> or <see cref="Device.FromArray"/> owns its
/// device buffer and frees it on <see cref="Dispose"/>. A view (<c>Slice</c>, <see cref="Rows"/>,
/// <see cref="Reshape"/>) shares its parent's memory without copying; disposing a view does nothing to
/// the memory, and disposing the parent makes every view of it unusable. Any use of a disposed tensor
/// throws <see cref="ObjectDisposedException"/>. This is how a model keeps all its parameters in one
/// flat buffer with a named view per weight.
/// </para>
/// <para>Host copies (<see cref="ToArray"/>, <see cref="CopyFrom"/>) synchronise the device; nothing else does.</para>
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? buffer;
    private readonly Tensor? parent;
    private readonly long offset;
    private bool disposed;

    // `start`: where the tensor begins in its buffer (the CPU device aligns it, Device.Zeros).
    internal Tensor(Device device, MemoryBuffer1D<float, Stride1D.Dense> buffer, long start, TensorShape shape, string? name)
    {
        Device = device;
        this.buffer = buffer;
        offset = start;
        Shape = shape;
        Name = name;
    }

    private Tensor(Tensor parent, long offset, TensorShape shape, string? name)
    {
        Device = parent.Device;
        this.parent = parent;
        this.offset = offset;
        Shape = shape;
        Name = name ?? parent.Name;
    }

    public Device Device { get; }

    public TensorShape Shape { get; }

    /// <summary>Optional name used in error messages (for example a parameter's state_dict key).</summary>
    public string? Name { get; }

    public int Rank => Shape.Rank;

    public int Length => Shape.Length;

    /// <summary>True for a view into another tensor's memory.</summary>
    public bool IsView => parent is not null;

    /// <summary>True once this tensor, or the tensor it views, has been disposed (or its device has).</summary>
    public bool IsDisposed => disposed || (parent?.IsDisposed ?? Device.IsDisposed);

    /// <summary>Offset in elements from the start of the owning buffer.</summary>
    internal long RootOffset => parent is null ? offset : parent.RootOffset + offset;

    /// <summary>The owning buffer's identity, to detect aliasing between operands.</summary>
    internal object Root => parent?.Root ?? buffer!;

    /// <summary>The device memory as an ILGPU view. Throws if the tensor is disposed.</summary>
    public ArrayView1D<float, Stride1D.Dense> View
    {
        get
        {
            ThrowIfDisposed();
            return parent is null ? buffer!.View.SubView(offset, Length) : parent.View.SubView(offset, Length);
        }
    }

    /// <summary>The device memory as the contiguous view kernel parameters take (<c>ArrayView&lt;float&gt;</c>).</summary>
    internal ArrayView<float> Flat => View.AsContiguous();

    /// <summary>The memory of a tensor on the CPU accelerator, for the host fast path (CPU devices only).</summary>
    internal unsafe Span<float> HostSpan
    {
        get
        {
            ThrowIfDisposed();
            var root = (MemoryBuffer)Root;
            return new Span<float>((float*)root.NativePtr + RootOffset, Length);
        }
    }

    /// <summary>Pointer to <see cref="HostSpan"/>; valid while the tensor is alive.</summary>
    internal unsafe float* HostPointer
    {
        get
        {
            ThrowIfDisposed();
            return (float*)((MemoryBuffer)Root).NativePtr + RootOffset;
        }
    }

    /// <summary>Copies the tensor to a new host array (synchronises the device).</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies the tensor into a host span of exactly <see cref="Length"/> elements (synchronises the device).</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"CopyTo: tensor {Describe()} has {Length} elements but the destination has {destination.Length}.", nameof(destination));
        var stream = Device.Stream;
        if (Length > 0 && Device.Kind == DeviceKind.Cpu)
        {
            // The CPU accelerator's memory is host memory: a plain copy, without ILGPU's per-copy wrapper objects.
            stream.Synchronize();
            HostSpan.CopyTo(destination);
            return;
        }

        if (Length > 0)
            View.CopyToCPU(stream, destination);
        stream.Synchronize();
    }

    /// <summary>Reads a one-element tensor (a loss, say) back to the host.</summary>
    public float Item()
    {
        if (Length != 1)
            throw new InvalidOperationException($"Item: tensor {Describe()} has {Length} elements; only one-element tensors can be read as a number.");
        Span<float> value = stackalloc float[1];
        CopyTo(value);
        return value[0];
    }

    /// <summary>Overwrites the tensor with host data of exactly <see cref="Length"/> elements.</summary>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        if (source.Length != Length)
            throw new ArgumentException($"CopyFrom: tensor {Describe()} has {Length} elements but the source has {source.Length}.", nameof(source));
        var stream = Device.Stream;
        if (Length > 0 && Device.Kind == DeviceKind.Cpu)
        {
            stream.Synchronize(); // a queued kernel may still read this memory
            source.CopyTo(HostSpan);
            return;
        }

        if (Length > 0)
            View.CopyFromCPU(stream, source);
        // The span may live on the managed heap or the stack: finish the copy before returning.
        stream.Synchronize();
    }

    /// <summary>Sets every element to zero (asynchronous).</summary>
    public void Zero()
    {
        ThrowIfDisposed();
        if (Length > 0)
            Device.Dispatch().Zero(this);
    }

    /// <summary>Sets every element to <paramref name="value"/> (asynchronous).</summary>
    public void Fill(float value) => Ops.Fill(this, value);

    /// <summary>A view of <paramref name="shape"/> elements starting at element <paramref name="start"/>, without copying.</summary>
    public Tensor Slice(int start, params int[] shape) => Slice(start, new TensorShape(shape), null);

    /// <summary>A named view (for parameters in a flat buffer).</summary>
    public Tensor Slice(int start, TensorShape shape, string? name)
    {
        ThrowIfDisposed();
        if (start < 0 || (long)start + shape.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice: elements [{start}, {(long)start + shape.Length}) of shape {shape} do not fit in tensor {Describe()} of {Length} elements.");
        return new Tensor(this, start, shape, name);
    }

    /// <summary>A view of rows [start, start + count) of a matrix or vector, without copying.</summary>
    public Tensor Rows(int start, int count)
    {
        ThrowIfDisposed();
        if (Rank == 0)
            throw new InvalidOperationException($"Rows: tensor {Describe()} is a scalar.");
        if (start < 0 || count < 0 || start + count > Shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows: rows [{start}, {start + count}) are outside tensor {Describe()}.");
        var dims = Shape.ToArray();
        int rowLength = Shape[0] == 0 ? 0 : Length / Shape[0];
        dims[0] = count;
        return new Tensor(this, (long)start * rowLength, new TensorShape(dims), null);
    }

    /// <summary>A view with a different shape and the same number of elements.</summary>
    public Tensor Reshape(params int[] shape)
    {
        ThrowIfDisposed();
        var newShape = new TensorShape(shape);
        if (newShape.Length != Length)
            throw new ShapeMismatchException($"Reshape: tensor {Describe()} has {Length} elements; shape {newShape} has {newShape.Length}.");
        return new Tensor(this, 0, newShape, null);
    }

    /// <summary>Frees the device memory of an owning tensor; marks a view unusable.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        buffer?.Dispose();
    }

    public override string ToString() => $"Tensor{Shape} on {Device.Info.KindName}{(Name is null ? "" : $" '{Name}'")}";

    internal string Describe() => Name is null ? Shape.ToString() : $"'{Name}' {Shape}";

    internal void ThrowIfDisposed()
    {
        if (IsDisposed)
            throw new ObjectDisposedException(nameof(Tensor), $"Tensor {Describe()} has been disposed{(disposed ? "" : " (through the tensor or device it belongs to)")}.");
    }
}
