using ILGPU.Runtime;

namespace Gpu.Runtime;

/// <summary>
/// A ring of device tensors filled from host memory beside the device's computation: how data that
/// stays in host memory reaches a GPU without stalling it. Each slot holds one tensor per part (a
/// batch's features and its targets, say), all with the same number of rows. A slot goes round:
/// <list type="number">
/// <item><see cref="Staging"/>: the caller writes the rows into the slot's host staging;</item>
/// <item><see cref="Send"/>: the copy to the slot's tensors starts;</item>
/// <item><see cref="Receive"/>: the copy has arrived, and the caller queues computation reading the tensors;</item>
/// <item><see cref="Release"/>: everything that reads them is queued; the slot may be refilled.</item>
/// </list>
/// On a kernel device the staging is page-locked and the copies run on a stream of their own, so
/// that on a GPU the copy of the next batch overlaps the current step. ILGPU 1.5 has no device-side
/// wait of one stream on another, so the two streams are ordered by host waits on markers: before a
/// copy into a slot, for the computation that last read it; before computation reads a slot, for
/// its copy. With three slots used in turn (one in use, one arriving, one whose computation may
/// still run) each wait finds the work it waits for finished or about to be, while the device has
/// the current step queued. On the host path a slot's staging is its tensors' own memory: nothing
/// is copied and nothing waits. A slot used out of turn throws, so the order is checked on every
/// device, including those whose streams run synchronously.
/// </summary>
public sealed class UploadRing : IDisposable
{
    private readonly Device device;
    private readonly Slot[] slots;
    private readonly AcceleratorStream? copyStream;
    private bool disposed;

    /// <summary>
    /// A ring of <paramref name="slotCount"/> slots on <paramref name="device"/>, each with a zeroed
    /// tensor of every shape in <paramref name="parts"/> (the same leading row count for all).
    /// </summary>
    public UploadRing(Device device, int slotCount, params TensorShape[] parts)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(slotCount, 1);
        if (parts.Length == 0 || parts.Any(p => p.Rank == 0 || p[0] != parts[0][0]))
            throw new ArgumentException($"UploadRing needs one or more parts with the same row count, got [{string.Join(", ", parts.AsEnumerable())}].", nameof(parts));
        this.device = device;
        Rows = parts[0][0];
        bool staged = !device.IsHost;
        slots = new Slot[slotCount];
        try
        {
            copyStream = staged ? device.Accelerator.CreateStream() : null;
            for (int s = 0; s < slotCount; s++)
            {
                slots[s] = new Slot(parts.Length);
                for (int p = 0; p < parts.Length; p++)
                {
                    slots[s].Tensors[p] = device.Zeros(parts[p], null);
                    if (staged)
                        slots[s].Staging[p] = device.Accelerator.AllocatePageLocked1D<float>(parts[p].Length, uninitialized: true);
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private enum State { Free, Sent, Received }

    /// <summary>The rows every slot's tensors hold.</summary>
    public int Rows { get; }

    public int SlotCount => slots.Length;

    /// <summary>The tensor of part <paramref name="part"/> in slot <paramref name="slot"/> (whole; take <see cref="Tensor.Rows"/> for fewer rows).</summary>
    public Tensor Tensor(int slot, int part) => slots[slot].Tensors[part];

    /// <summary>Host memory to write part <paramref name="part"/> of the slot's next rows into, row-major; the slot must be free.</summary>
    public Span<float> Staging(int slot, int part)
    {
        var s = Use(slot, State.Free, "fill");
        return s.Staging[part] is { } staging ? staging.Span : s.Tensors[part].HostSpan;
    }

    /// <summary>
    /// Starts copying the first <paramref name="rows"/> rows of every part's staging into the slot's
    /// tensors, once the computation that read them before has finished.
    /// </summary>
    public void Send(int slot, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, Rows);
        var s = Use(slot, State.Free, "send");
        if (copyStream is not null)
        {
            s.Computed?.Synchronize();
            for (int p = 0; p < s.Tensors.Length; p++)
            {
                var tensor = s.Tensors[p];
                long length = (long)rows * (tensor.Length / Rows);
                if (length > 0)
                    tensor.View.SubView(0, length).CopyFrom(copyStream, s.Staging[p]!.ArrayView.SubView(0, length));
            }

            s.Copied?.Dispose();
            s.Copied = copyStream.AddProfilingMarker();
        }

        s.State = State.Sent;
    }

    /// <summary>Waits until the slot's copy has arrived; computation reading its tensors may be queued after this.</summary>
    public void Receive(int slot)
    {
        var s = Use(slot, State.Sent, "receive");
        s.Copied?.Synchronize();
        s.State = State.Received;
    }

    /// <summary>Says that every computation reading the slot's tensors is queued: the slot may be refilled once it has run.</summary>
    public void Release(int slot)
    {
        var s = Use(slot, State.Received, "release");
        if (copyStream is not null)
        {
            s.Computed?.Dispose();
            s.Computed = device.Stream.AddProfilingMarker();
        }

        s.State = State.Free;
    }

    /// <summary>True when the slot has been sent and not yet received (a copy may be in flight).</summary>
    public bool IsSent(int slot) => slots[slot].State == State.Sent;

    /// <summary>True when the slot has been received and not yet released (computation may read it).</summary>
    public bool IsReceived(int slot) => slots[slot].State == State.Received;

    /// <summary>Waits for copies in flight, then frees the tensors, the staging and the copy stream.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        if (!device.IsDisposed)
            copyStream?.Synchronize();
        foreach (var s in slots)
        {
            if (s is null)
                continue;
            s.Copied?.Dispose();
            s.Computed?.Dispose();
            foreach (var staging in s.Staging)
                staging?.Dispose();
            foreach (var tensor in s.Tensors)
                tensor?.Dispose();
        }

        copyStream?.Dispose();
    }

    private Slot Use(int slot, State expected, string action)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, slots.Length);
        var s = slots[slot];
        if (s.State != expected)
            throw new InvalidOperationException($"UploadRing: cannot {action} slot {slot}, which is {s.State.ToString().ToLowerInvariant()} (expected {expected.ToString().ToLowerInvariant()}).");
        return s;
    }

    private sealed class Slot(int parts)
    {
        public readonly Tensor[] Tensors = new Tensor[parts];
        public readonly PageLockedArray1D<float>?[] Staging = new PageLockedArray1D<float>?[parts];
        public ProfilingMarker? Copied;
        public ProfilingMarker? Computed;
        public State State;
    }
}
