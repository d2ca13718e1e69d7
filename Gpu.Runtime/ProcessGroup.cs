using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Gpu.Runtime;

/// <summary>
/// The processes (ranks) of one data-parallel job, launched by an existing engine the way HPC and ML
/// users launch jobs (<c>mpirun -np N gpu train ...</c>), with the collectives training needs: an
/// in-place sum of a tensor across ranks (gradients), a broadcast from rank 0 (initial weights),
/// gathers (per-rank facts) and abort. PyTorch's torch.distributed with the MPI backend, in short.
/// <para>
/// Tensors on the host path are reduced in place in the CPU accelerator's memory; tensors on a GPU
/// are staged through pinned host memory (Debian's Open MPI is not CUDA-aware; docs/distributed.md
/// says how NCCL would replace the staging). Large tensors go in buckets of at most
/// <see cref="BucketFloats"/> floats (16 MB): one 64 MB all-reduce was measured 12x slower than four
/// of 16 MB, because Open MPI's scratch buffer is then mapped and unmapped by glibc on every call.
/// The bucket layout is fixed, so a rerun with the same number of ranks gives the same bits.
/// </para>
/// </summary>
public sealed unsafe class ProcessGroup : IDisposable
{
    /// <summary>Largest all-reduce or broadcast sent in one call, in floats (16 MB).</summary>
    public const int BucketFloats = 4 << 20;

    /// <summary>Overrides the MPI library loaded (a path or a name), e.g. a build with CUDA support.</summary>
    public const string LibraryVariable = "GPU_MPI_LIBRARY";

    private readonly Mpi mpi;
    private readonly Stopwatch communication = new();
    private float[] staging = [];
    private bool disposed;

    private ProcessGroup(Mpi mpi)
    {
        this.mpi = mpi;
        Rank = mpi.Rank(mpi.CommWorld);
        WorldSize = mpi.Size(mpi.CommWorld);
        nint local = mpi.SplitShared(Rank);
        LocalRank = mpi.Rank(local);
        LocalSize = mpi.Size(local);
        mpi.Free(local);
    }

    /// <summary>This process's rank in the job, from 0.</summary>
    public int Rank { get; }

    /// <summary>Ranks in the job.</summary>
    public int WorldSize { get; }

    /// <summary>This process's rank among those on the same machine (picks its GPU).</summary>
    public int LocalRank { get; }

    /// <summary>Ranks on the same machine (they share its cores).</summary>
    public int LocalSize { get; }

    /// <summary>The MPI implementation and library, e.g. "Open MPI (libmpi.so.40)".</summary>
    public string Implementation => $"{(mpi.Flavour == MpiFlavour.OpenMpi ? "Open MPI" : "MPICH")} ({mpi.LibraryPath})";

    /// <summary>Wall time spent in collectives so far (staging copies included).</summary>
    public double CommunicationSeconds => communication.Elapsed.TotalSeconds;

    /// <summary>
    /// The MPI launcher this process runs under, read from the environment: Open MPI's mpirun sets
    /// OMPI_COMM_WORLD_SIZE, MPICH's Hydra (and other PMI launchers) set PMI_SIZE. Null when the
    /// process was started on its own.
    /// </summary>
    public static (MpiFlavour Flavour, int WorldSize)? DetectLaunch()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int size))
            return (MpiFlavour.OpenMpi, size);
        if (int.TryParse(Environment.GetEnvironmentVariable("PMI_SIZE"), out size))
            return (MpiFlavour.Mpich, size);
        return null;
    }

    /// <summary>
    /// Joins the job this process was launched in (MPI_Init). Throws <see cref="DllNotFoundException"/>
    /// naming what to install when the MPI library is absent.
    /// </summary>
    public static ProcessGroup Join(MpiFlavour flavour)
    {
        var mpi = Mpi.Load(flavour, Environment.GetEnvironmentVariable(LibraryVariable));
        if (!mpi.IsInitialized)
            mpi.Init();
        return new ProcessGroup(mpi);
    }

    /// <summary>Sums <paramref name="tensor"/> across ranks in place, each rank's values first multiplied by <paramref name="scale"/>.</summary>
    public void AllReduceSum(Tensor tensor, float scale = 1f)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ThrowIfDisposed();
        communication.Start();
        try
        {
            if (tensor.Device.Kind == DeviceKind.Cpu)
            {
                // The CPU accelerator's memory is host memory: reduce it where it lies.
                tensor.Device.Synchronize();
                var values = tensor.HostSpan;
                if (scale != 1f)
                    Scale(values, scale);
                fixed (float* p = values)
                    AllReduceBuckets(p, values.Length);
                return;
            }

            var host = Staging(tensor.Length);
            tensor.CopyTo(host);
            if (scale != 1f)
                Scale(host, scale);
            fixed (float* p = host)
                AllReduceBuckets(p, host.Length);
            tensor.CopyFrom(host);
        }
        finally
        {
            communication.Stop();
        }
    }

    /// <summary>Sums host values across ranks in place (losses, counts).</summary>
    public void AllReduceSum(Span<double> values)
    {
        ThrowIfDisposed();
        communication.Start();
        try
        {
            fixed (double* p = values)
                mpi.AllreduceSum(p, values.Length, mpi.Double);
        }
        finally
        {
            communication.Stop();
        }
    }

    /// <summary>Overwrites <paramref name="tensor"/> on every rank with rank <paramref name="root"/>'s values.</summary>
    public void Broadcast(Tensor tensor, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ThrowIfDisposed();
        communication.Start();
        try
        {
            var host = tensor.Device.Kind == DeviceKind.Cpu ? null : Staging(tensor.Length);
            if (host is null)
            {
                tensor.Device.Synchronize();
                fixed (float* p = tensor.HostSpan)
                    BroadcastBuckets(p, tensor.Length, root);
                return;
            }

            tensor.CopyTo(host);
            fixed (float* p = host)
                BroadcastBuckets(p, host.Length, root);
            tensor.CopyFrom(host);
        }
        finally
        {
            communication.Stop();
        }
    }

    /// <summary>Every rank's value, in rank order.</summary>
    public long[] AllGather(long value)
    {
        ThrowIfDisposed();
        var result = new long[WorldSize];
        fixed (long* r = result)
            mpi.Allgather(&value, r, 1, mpi.Long);
        return result;
    }

    /// <summary>Every rank's text (UTF-8), in rank order: device names for the report, say.</summary>
    public string[] AllGather(string text)
    {
        ThrowIfDisposed();
        var bytes = Encoding.UTF8.GetBytes(text);
        long longest = AllGather((long)bytes.Length).Max();
        var padded = new byte[longest + sizeof(int)];
        BitConverter.TryWriteBytes(padded, bytes.Length);
        bytes.CopyTo(padded, sizeof(int));
        var all = new byte[padded.Length * WorldSize];
        fixed (byte* s = padded, r = all)
            mpi.Allgather(s, r, padded.Length, mpi.Byte);
        return [.. Enumerable.Range(0, WorldSize).Select(i =>
        {
            int offset = i * padded.Length;
            return Encoding.UTF8.GetString(all, offset + sizeof(int), BitConverter.ToInt32(all, offset));
        })];
    }

    public void Barrier()
    {
        ThrowIfDisposed();
        mpi.Barrier();
    }

    /// <summary>Stops the whole job with <paramref name="code"/> (MPI_Abort): no rank is left waiting in a collective.</summary>
    public void Abort(int code) => mpi.Abort(code);

    /// <summary>Leaves the job (MPI_Finalize).</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        if (!mpi.IsFinalized)
            mpi.Shutdown();
    }

    public override string ToString() => $"rank {Rank} of {WorldSize} ({Implementation}, local rank {LocalRank} of {LocalSize})";

    private void AllReduceBuckets(float* values, int count)
    {
        for (int start = 0; start < count; start += BucketFloats)
            mpi.AllreduceSum(values + start, Math.Min(BucketFloats, count - start), mpi.Float);
    }

    private void BroadcastBuckets(float* values, int count, int root)
    {
        for (int start = 0; start < count; start += BucketFloats)
            mpi.Broadcast(values + start, Math.Min(BucketFloats, count - start), mpi.Float, root);
    }

    // Pinned, so the device copies and MPI read the same memory without the GC moving it. Exactly
    // the tensor's length (Tensor.CopyTo wants equal lengths); a model's gradients keep one length.
    private float[] Staging(int length)
    {
        if (staging.Length != length)
            staging = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return staging;
    }

    private static void Scale(Span<float> values, float scale)
    {
        var factor = new System.Numerics.Vector<float>(scale);
        int width = System.Numerics.Vector<float>.Count, i = 0;
        var vectors = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
        for (; i < vectors.Length; i++)
            vectors[i] *= factor;
        for (int j = i * width; j < values.Length; j++)
            values[j] *= scale;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);
}
