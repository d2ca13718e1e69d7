using System.Runtime.InteropServices;
using System.Text;

namespace Gpu.Runtime;

/// <summary>
/// The few MPI calls data-parallel training uses, bound at run time to the MPI library the job was
/// launched with: Open MPI (<c>libmpi.so.40</c>, under <c>mpirun</c>; handles are the addresses of
/// exported globals such as <c>ompi_mpi_comm_world</c>, <c>MPI_IN_PLACE</c> is 1) or MPICH
/// (<c>libmpich.so.12</c>, under <c>mpiexec.mpich</c>; handles are integers such as
/// <c>MPI_COMM_WORLD = 0x44000000</c>, <c>MPI_IN_PLACE</c> is -1). Handles are passed as native
/// integers either way: an int in a 64-bit argument slot reads the same on x86-64 and arm64.
/// Errors are returned rather than fatal (<c>MPI_ERRORS_RETURN</c>) and become
/// <see cref="MpiException"/>s that name the call and MPI's error string.
/// </summary>
internal sealed unsafe class Mpi
{
    private readonly nint library;
    private readonly delegate* unmanaged<int*, byte***, int> init;
    private readonly delegate* unmanaged<int*, int> initialized;
    private readonly delegate* unmanaged<int*, int> finalized;
    private readonly delegate* unmanaged<int> finalize;
    private readonly delegate* unmanaged<nint, int*, int> commRank;
    private readonly delegate* unmanaged<nint, int*, int> commSize;
    private readonly delegate* unmanaged<nint, int, int, nint, nint*, int> commSplitType;
    private readonly delegate* unmanaged<nint*, int> commFree;
    private readonly delegate* unmanaged<nint, nint, int> commSetErrhandler;
    private readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, int> allreduce;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, int> bcast;
    private readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> allgather;
    private readonly delegate* unmanaged<nint, int> barrier;
    private readonly delegate* unmanaged<nint, int, int> abort;
    private readonly delegate* unmanaged<int, byte*, int*, int> errorString;

    private Mpi(nint library, MpiFlavour flavour, string path)
    {
        this.library = library;
        Flavour = flavour;
        LibraryPath = path;
        init = (delegate* unmanaged<int*, byte***, int>)Export("MPI_Init");
        initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        commSplitType = (delegate* unmanaged<nint, int, int, nint, nint*, int>)Export("MPI_Comm_split_type");
        commFree = (delegate* unmanaged<nint*, int>)Export("MPI_Comm_free");
        commSetErrhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Export("MPI_Bcast");
        allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Export("MPI_Allgather");
        barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        errorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        if (flavour == MpiFlavour.OpenMpi)
        {
            CommWorld = Export("ompi_mpi_comm_world");
            Float = Export("ompi_mpi_float");
            Double = Export("ompi_mpi_double");
            Long = Export("ompi_mpi_long_long_int");
            Byte = Export("ompi_mpi_byte");
            Sum = Export("ompi_mpi_op_sum");
            ErrorsReturn = Export("ompi_mpi_errors_return");
            InfoNull = Export("ompi_mpi_info_null");
            InPlace = 1;
            CommTypeShared = 0;
        }
        else
        {
            CommWorld = 0x44000000;
            Float = 0x4c00040a;
            Double = 0x4c00080b;
            Long = 0x4c000809;
            Byte = 0x4c00010d;
            Sum = 0x58000003;
            ErrorsReturn = 0x54000001;
            InfoNull = 0x1c000000;
            InPlace = -1;
            CommTypeShared = 1;
        }
    }

    public MpiFlavour Flavour { get; }

    public string LibraryPath { get; }

    public nint CommWorld { get; }

    public nint Float { get; }

    public nint Double { get; }

    public nint Long { get; }

    public nint Byte { get; }

    public nint Sum { get; }

    private nint ErrorsReturn { get; }

    private nint InfoNull { get; }

    private nint InPlace { get; }

    private int CommTypeShared { get; }

    /// <summary>
    /// Loads the MPI library for <paramref name="flavour"/> (or the one <paramref name="path"/> names).
    /// Throws <see cref="DllNotFoundException"/> with what to install when it is absent.
    /// </summary>
    public static Mpi Load(MpiFlavour flavour, string? path = null)
    {
        string name = path ?? (flavour == MpiFlavour.OpenMpi ? "libmpi.so.40" : "libmpich.so.12");
        if (!NativeLibrary.TryLoad(name, out nint handle))
        {
            string install = flavour == MpiFlavour.OpenMpi
                ? "install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; it provides libmpi.so.40)"
                : "install MPICH (Debian/Ubuntu: apt-get install mpich; it provides libmpich.so.12)";
            throw new DllNotFoundException($"the job runs under {(flavour == MpiFlavour.OpenMpi ? "Open MPI's mpirun" : "an MPICH launcher")} but {name} cannot be loaded: {install}, or run a single process with --distributed off.");
        }

        return new Mpi(handle, flavour, name);
    }

    public bool IsInitialized
    {
        get
        {
            int flag;
            Check(initialized(&flag), "MPI_Initialized");
            return flag != 0;
        }
    }

    public bool IsFinalized
    {
        get
        {
            int flag;
            Check(finalized(&flag), "MPI_Finalized");
            return flag != 0;
        }
    }

    /// <summary>MPI_Init, then errors on MPI_COMM_WORLD are returned instead of aborting.</summary>
    public void Init()
    {
        Check(init(null, null), "MPI_Init");
        Check(commSetErrhandler(CommWorld, ErrorsReturn), "MPI_Comm_set_errhandler");
    }

    public void Shutdown() => Check(finalize(), "MPI_Finalize");

    public int Rank(nint comm)
    {
        int rank;
        Check(commRank(comm, &rank), "MPI_Comm_rank");
        return rank;
    }

    public int Size(nint comm)
    {
        int size;
        Check(commSize(comm, &size), "MPI_Comm_size");
        return size;
    }

    /// <summary>The ranks sharing this node's memory (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED); free it with <see cref="Free"/>.</summary>
    public nint SplitShared(int key)
    {
        nint comm = 0; // MPICH writes a 4-byte handle: the upper half stays 0
        Check(commSplitType(CommWorld, CommTypeShared, key, InfoNull, &comm), "MPI_Comm_split_type");
        return comm;
    }

    public void Free(nint comm) => Check(commFree(&comm), "MPI_Comm_free");

    /// <summary>In-place element-wise sum across ranks.</summary>
    public void AllreduceSum(void* buffer, int count, nint datatype) =>
        Check(allreduce((void*)InPlace, buffer, count, datatype, Sum, CommWorld), "MPI_Allreduce");

    public void Broadcast(void* buffer, int count, nint datatype, int root) =>
        Check(bcast(buffer, count, datatype, root, CommWorld), "MPI_Bcast");

    /// <summary>Every rank's <paramref name="count"/> items, gathered in rank order on every rank.</summary>
    public void Allgather(void* send, void* receive, int count, nint datatype) =>
        Check(allgather(send, count, datatype, receive, count, datatype, CommWorld), "MPI_Allgather");

    public void Barrier() => Check(barrier(CommWorld), "MPI_Barrier");

    /// <summary>Stops every rank of the job (MPI_Abort on MPI_COMM_WORLD); does not return on success.</summary>
    public void Abort(int code) => abort(CommWorld, code);

    private nint Export(string name) =>
        NativeLibrary.TryGetExport(library, name, out nint address)
            ? address
            : throw new EntryPointNotFoundException($"{LibraryPath} has no {name}: it is not the {(Flavour == MpiFlavour.OpenMpi ? "Open MPI" : "MPICH")} library this program binds.");

    private void Check(int code, string call)
    {
        if (code == 0)
            return;
        var text = new byte[1024]; // MPI_MAX_ERROR_STRING is 256 (Open MPI) and 1024 (MPICH)
        int length = 0;
        fixed (byte* p = text)
        {
            if (errorString(code, p, &length) != 0)
                length = 0;
        }

        string message = length > 0 ? Encoding.ASCII.GetString(text, 0, Math.Min(length, text.Length)).TrimEnd('\0') : $"error code {code}";
        throw new MpiException($"{call} failed: {message}", code);
    }
}

/// <summary>Which MPI implementation (and so which ABI) a job runs under.</summary>
public enum MpiFlavour
{
    /// <summary>Open MPI: mpirun sets OMPI_COMM_WORLD_SIZE; libmpi.so.40.</summary>
    OpenMpi,

    /// <summary>MPICH: its Hydra launcher (mpiexec.mpich) sets PMI_SIZE; libmpich.so.12.</summary>
    Mpich,
}

/// <summary>An MPI call that failed; the message names the call and MPI's error string.</summary>
public sealed class MpiException(string message, int code) : Exception(message)
{
    public int Code { get; } = code;
}
