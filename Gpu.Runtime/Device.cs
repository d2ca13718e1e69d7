using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

/// <summary>
/// One accelerator and everything bound to it: the ILGPU context and the backend that runs its ops
/// (host code, or ILGPU kernels with their cache, launch sizes and scratch memory), chosen once
/// here. Owns them all and frees them on <see cref="Dispose"/> (in reverse order of creation). Not thread-safe: drive a device from one
/// thread. All launches go to one stream in order; <see cref="Synchronize"/> waits for them. (An
/// <see cref="UploadRing"/> copies on a second stream of its own, ordered against this one by markers.)
/// </summary>
public sealed class Device : IDisposable
{
    /// <summary>Environment variable that overrides the default device request ("auto").</summary>
    public const string EnvironmentVariable = "GPU_DEVICE";

    /// <summary>Environment variable limiting the host path's threads (as OMP_NUM_THREADS does for PyTorch); unset: every core.</summary>
    public const string HostThreadsVariable = "GPU_HOST_THREADS";

    // GPU_HOST_THREADS as a positive count; anything else is ignored (every core).
    private static int? HostThreadsFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable(HostThreadsVariable), out int n) && n > 0 ? n : null;

    private readonly Context context;
    private readonly Backend backend;
    private ProfilingBackend? profiling;
    private long launches;
    private bool disposed;

    private Device(Context context, Accelerator accelerator, DeviceInfo info, CpuProfile? cpuProfile, string? selectionNote)
    {
        this.context = context;
        Accelerator = accelerator;
        Info = info;
        CpuProfile = cpuProfile;
        SelectionNote = selectionNote;
        backend = cpuProfile == Runtime.CpuProfile.Host ? new HostBackend(this) : new KernelBackend(this);
    }

    /// <summary>What the device is (kind, name, memory, warp size, multiprocessors).</summary>
    public DeviceInfo Info { get; }

    public DeviceKind Kind => Info.Kind;

    /// <summary>The CPU accelerator's configuration, or null on a GPU.</summary>
    public CpuProfile? CpuProfile { get; }

    /// <summary>How the device was chosen when that is worth telling, e.g. that "auto" fell back to the CPU.</summary>
    public string? SelectionNote { get; }

    /// <summary>Matrix-product implementation; <see cref="MatMulAlgorithm.Auto"/> by default. Set it to force our own kernel.</summary>
    public MatMulAlgorithm MatMulAlgorithm { get; set; } = MatMulAlgorithm.Auto;

    /// <summary>The ILGPU accelerator, for code that launches its own kernels.</summary>
    public Accelerator Accelerator { get; }

    public bool IsDisposed => disposed;

    /// <summary>
    /// Ops dispatched to this device so far: on a GPU each is one kernel launch, memset or cuBLAS
    /// call (a reduction is two launches, a product with a bias on cuBLAS two: they count once), on
    /// the host path one host call. A cheap counter for benchmarks and for checking that a training
    /// step runs the ops it should.
    /// </summary>
    public long LaunchCount => launches;

    /// <summary>True when ops run as host code (<see cref="CpuProfile.Host"/>) instead of kernel launches.</summary>
    public bool IsHost => CpuProfile == Runtime.CpuProfile.Host;

    /// <summary>Cores the host path's parallel loops use, or null on a kernel device (for reports and profiles).</summary>
    public int? HostThreads => IsHost ? Backends.Host.HostThreads.Count : null;

    /// <summary>What runs the ops here, for reports: "host SIMD", "ILGPU kernels", and on CUDA whether cuBLAS is used.</summary>
    public string BackendDescription => backend.Description;

    /// <summary>
    /// The backend that runs this device's ops, counting the op: every launcher in <see cref="Ops"/>
    /// calls this exactly once, after validating its operands.
    /// </summary>
    internal Backend Dispatch()
    {
        ThrowIfDisposed();
        launches++;
        return (Backend?)profiling ?? backend;
    }

    /// <summary>The profiler timing this device's ops, or null when profiling is off (the default).</summary>
    public Profiling.OpProfiler? Profiler => profiling?.Profiler;

    /// <summary>
    /// Starts a new profile: every op (and every <see cref="Profiling.OpProfiler.Scope"/> region) is
    /// timed until <see cref="StopProfiling"/>, host ops with the clock, kernels with the stream's
    /// events. The ops run exactly as without it; the profiler returned keeps its results after the stop.
    /// </summary>
    public Profiling.OpProfiler StartProfiling()
    {
        ThrowIfDisposed();
        var profiler = new Profiling.OpProfiler(IsHost ? null : Stream);
        profiling = new ProfilingBackend(backend, profiler);
        return profiler;
    }

    /// <summary>Stops timing ops; the profiler keeps what it measured.</summary>
    public void StopProfiling() => profiling = null;

    /// <summary>The kernel backend, for what only kernels have (cuBLAS, launch sizes); null on the host path.</summary>
    internal KernelBackend? Kernels => backend as KernelBackend;

    internal AcceleratorStream Stream => Accelerator.DefaultStream;

    /// <summary>
    /// Opens a device. <paramref name="request"/> is auto, cpu, cuda or opencl (case-insensitive);
    /// null means the environment variable <c>GPU_DEVICE</c>, else auto. Auto tries CUDA, then OpenCL,
    /// then the CPU accelerator, and says so in <see cref="SelectionNote"/> when it falls back.
    /// An explicit request for an absent device throws <see cref="DeviceNotFoundException"/> listing what was found.
    /// </summary>
    public static Device Create(string? request = null) => Create(request, 0, null);

    /// <summary>
    /// Opens a device as <see cref="Create(string?)"/> does, for one of several processes on a
    /// machine: a GPU request takes GPU number <paramref name="gpuOrdinal"/> mod the GPUs found (the
    /// next usable one when that one fails), and the CPU's host path uses <paramref name="cpuThreads"/> cores.
    /// </summary>
    public static Device Create(string? request, int gpuOrdinal, int? cpuThreads)
    {
        string effective = request ?? Environment.GetEnvironmentVariable(EnvironmentVariable) ?? "auto";
        return effective.Trim().ToLowerInvariant() switch
        {
            "auto" or "" => CreateAuto(request is null && Environment.GetEnvironmentVariable(EnvironmentVariable) is not null, gpuOrdinal, cpuThreads),
            "cpu" => CreateCpu(threads: cpuThreads),
            "cuda" => CreateGpu(DeviceKind.Cuda, gpuOrdinal, out _) ?? throw NotFound("cuda"),
            "opencl" => CreateGpu(DeviceKind.OpenCL, gpuOrdinal, out _) ?? throw NotFound("opencl"),
            _ => throw new ArgumentException(
                $"Unknown device '{effective}'{(request is null ? $" (from {EnvironmentVariable})" : "")}: use auto, cpu, cuda or opencl.", nameof(request)),
        };
    }

    /// <summary>
    /// Opens the CPU device with the given profile: <see cref="CpuProfile.Host"/> (the default: ops
    /// as vectorised host code), <see cref="CpuProfile.Fast"/> (ILGPU kernels on the CPU
    /// accelerator) or <see cref="CpuProfile.GpuLike"/> (the GPU code paths, for tests).
    /// </summary>
    /// <param name="profile">How the CPU runs ops.</param>
    /// <param name="selectionNote">Why this device was chosen, when worth telling.</param>
    /// <param name="threads">Cores the host path's parallel loops may use (process-wide; default
    /// <c>GPU_HOST_THREADS</c>, else all): data-parallel ranks sharing a machine take cores / local ranks each.</param>
    public static Device CreateCpu(CpuProfile profile = Runtime.CpuProfile.Host, string? selectionNote = null, int? threads = null)
    {
        if ((threads ?? HostThreadsFromEnvironment()) is { } count)
            Backends.Host.HostThreads.Set(count);
        if (profile == Runtime.CpuProfile.Host)
            Backends.Host.HostWarmUp.Start(); // while ILGPU builds its context (docs/kernels.md)
        var cpu = CpuDevice(profile);
        var context = Context.Create(builder => builder.CPU(cpu).EnableAlgorithms().Profiling());
        try
        {
            var accelerator = cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
            string name = profile switch
            {
                Runtime.CpuProfile.Host => "CPU (host SIMD fast path)",
                Runtime.CpuProfile.Fast => "CPU accelerator",
                _ => "CPU accelerator (GPU-like: 32-wide warps, groups of 256)",
            };
            var info = new DeviceInfo(DeviceKind.Cpu, name, HostMemoryBytes, accelerator.WarpSize, accelerator.NumMultiprocessors, accelerator.MaxNumThreadsPerGroup);
            return new Device(context, accelerator, info, profile, selectionNote);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every accelerator ILGPU finds on this machine (CUDA, OpenCL, the CPU), each marked usable or
    /// not with the reason. Creates and frees a context; cheap enough for a `devices` listing.
    /// </summary>
    public static IReadOnlyList<DeviceInfo> Discover()
    {
        var found = new List<DeviceInfo>();
        found.AddRange(DiscoverGpus(DeviceKind.Cuda));
        found.AddRange(DiscoverGpus(DeviceKind.OpenCL));
        var cpu = CpuDevice(Runtime.CpuProfile.Host);
        found.Add(new DeviceInfo(DeviceKind.Cpu, "CPU (host SIMD fast path)", HostMemoryBytes, cpu.WarpSize, cpu.NumMultiprocessors, cpu.MaxNumThreadsPerGroup));
        return found;
    }

    /// <summary>Waits until every queued launch and copy has finished.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        Stream.Synchronize();
    }

    /// <summary>
    /// Compiles every kernel this device launches now (otherwise each compiles on first use), so
    /// that a first training step does not pay for it. The host fast path launches no kernel, so
    /// this does nothing there (about 0.5 s saved per run); a kernel forced on it anyway
    /// (<see cref="MatMulAlgorithm.RowBlocked"/>) compiles on first use.
    /// </summary>
    public void CompileKernels()
    {
        ThrowIfDisposed();
        backend.CompileAll();
    }

    /// <summary>How many kernels have been compiled on this device so far.</summary>
    public int CompiledKernels => backend.CompiledKernels;

    private const int CacheLineFloats = 16;

    /// <summary>A new zero-filled tensor that owns its memory.</summary>
    public Tensor Zeros(params int[] shape) => Zeros(new TensorShape(shape), null);

    /// <summary>A new zero-filled tensor with a name used in error messages.</summary>
    public Tensor Zeros(TensorShape shape, string? name)
    {
        ThrowIfDisposed();
        // On the CPU a tensor starts on a 64-byte boundary (a cache line, one AVX-512 vector): ILGPU's
        // CPU buffers are 16-byte aligned, and a vector load or store across two lines costs two.
        int slack = Accelerator is CPUAccelerator ? CacheLineFloats - 1 : 0;
        var buffer = Accelerator.Allocate1D<float>(Math.Max(shape.Length, 1) + slack);
        buffer.MemSetToZero(Stream);
        long start = slack == 0 ? 0 : (-buffer.NativePtr.ToInt64() & (CacheLineFloats * sizeof(float) - 1)) / sizeof(float);
        return new Tensor(this, buffer, start, shape, name);
    }

    /// <summary>A new tensor holding a copy of <paramref name="data"/> with the given shape.</summary>
    public Tensor FromArray(ReadOnlySpan<float> data, params int[] shape)
    {
        var tensorShape = new TensorShape(shape);
        if (tensorShape.Length != data.Length)
            throw new ShapeMismatchException($"FromArray: shape {tensorShape} needs {tensorShape.Length} elements but {data.Length} were given.");
        var tensor = Zeros(tensorShape, null);
        tensor.CopyFrom(data);
        return tensor;
    }

    /// <summary>New zero-filled device indices (written by ops such as max pooling).</summary>
    public IndexBuffer AllocateIndices(int length)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new IndexBuffer(this, length);
    }

    /// <summary>New device indices holding a copy of <paramref name="data"/>.</summary>
    public IndexBuffer Indices(ReadOnlySpan<int> data)
    {
        ThrowIfDisposed();
        var indices = new IndexBuffer(this, data.Length);
        indices.CopyFrom(data);
        return indices;
    }

    /// <summary>
    /// Energy the GPU has used since its driver loaded, in joules, from NVML; null where the hardware
    /// or driver gives no reading (the CPU accelerator, OpenCL, GPUs before Volta).
    /// </summary>
    public double? ReadEnergyJoules() => ReadEnergyJoules(out _);

    /// <summary>The energy counter, or null with why there is no reading (never throws for a missing or failing NVML).</summary>
    public double? ReadEnergyJoules(out string? problem)
    {
        ThrowIfDisposed();
        if (Accelerator is CudaAccelerator cuda)
            return EnergyMeter.ReadJoules(cuda, out problem);
        problem = $"no energy counter on {Info.KindName}";
        return null;
    }

    /// <summary>The GPU's energy counter held open for repeated readings, or null with why there is none.</summary>
    public GpuEnergyCounter? OpenEnergyCounter(out string? problem)
    {
        ThrowIfDisposed();
        if (Accelerator is CudaAccelerator cuda)
            return GpuEnergyCounter.Open(cuda, out problem);
        problem = $"no energy counter on {Info.KindName}";
        return null;
    }

    public override string ToString()
    {
        string text = Info.ToString();
        return SelectionNote is null ? text : $"{text} [{SelectionNote}]";
    }

    /// <summary>Frees the backend (scratch memory, cuBLAS), the accelerator and the context, in that order.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        backend.Dispose();
        Accelerator.Dispose();
        context.Dispose();
        disposed = true;
    }

    // ILGPU reports the CPU accelerator's memory as unbounded; the host's memory is what limits it.
    private static long HostMemoryBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    private static CPUDevice CpuDevice(CpuProfile profile) => profile switch
    {
        // One OS thread per core: warps of two threads, one warp per multiprocessor, cores / 2
        // multiprocessors. More threads than cores only adds hand-off cost (measured: 59 us per launch
        // with 2 threads on 2 cores against 156 us with 4).
        Runtime.CpuProfile.Host or Runtime.CpuProfile.Fast => new CPUDevice(numThreadsPerWarp: 2, numWarpsPerMultiprocessor: 1, numMultiprocessors: Math.Max(1, Environment.ProcessorCount / 2)),
        Runtime.CpuProfile.GpuLike => new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1),
        _ => throw new ArgumentOutOfRangeException(nameof(profile), profile, "Unknown CPU profile."),
    };

    private static Device CreateAuto(bool fromEnvironment, int gpuOrdinal, int? cpuThreads)
    {
        var problems = new List<string>();
        foreach (var kind in new[] { DeviceKind.Cuda, DeviceKind.OpenCL })
        {
            var device = CreateGpu(kind, gpuOrdinal, out string? problem);
            if (device is not null)
                return device;
            problems.Add(problem!);
        }

        string source = fromEnvironment ? $"{EnvironmentVariable}=auto" : "auto";
        return CreateCpu(Runtime.CpuProfile.Host, $"{source}: {string.Join("; ", problems)}; using the CPU", cpuThreads);
    }

    // Opens GPU number `ordinal` mod the count of a kind (else the next usable one), or returns null with the reason.
    private static Device? CreateGpu(DeviceKind kind, int ordinal, out string? problem)
    {
        Context context;
        try
        {
            context = Context.Create(builder =>
            {
                if (kind == DeviceKind.Cuda)
                    builder.Cuda();
                else
                    builder.OpenCL();
                // Profiling enables the stream markers that order the upload stream (UploadRing).
                builder.EnableAlgorithms().Profiling();
            });
        }
        catch (Exception e)
        {
            problem = $"{kind} could not be initialised ({e.Message})";
            return null;
        }

        var reasons = new List<string>();
        var gpus = context.Devices.Where(d => d.AcceleratorType != AcceleratorType.CPU).ToList();
        int first = gpus.Count == 0 ? 0 : ((ordinal % gpus.Count) + gpus.Count) % gpus.Count;
        foreach (var candidate in gpus.Skip(first).Concat(gpus.Take(first)))
        {
            try
            {
                var accelerator = candidate.CreateAccelerator(context);
                var info = new DeviceInfo(kind, accelerator.Name, accelerator.MemorySize, accelerator.WarpSize, accelerator.NumMultiprocessors, accelerator.MaxNumThreadsPerGroup);
                problem = null;
                return new Device(context, accelerator, info, null, null);
            }
            catch (Exception e)
            {
                reasons.Add($"{candidate.Name}: {e.Message}");
            }
        }

        context.Dispose();
        problem = reasons.Count == 0 ? $"no {KindName(kind)} device found{DriverNote(kind)}" : $"no usable {KindName(kind)} device ({string.Join("; ", reasons)})";
        return null;
    }

    private static IEnumerable<DeviceInfo> DiscoverGpus(DeviceKind kind)
    {
        var result = new List<DeviceInfo>();
        try
        {
            using var context = Context.Create(builder =>
            {
                if (kind == DeviceKind.Cuda)
                    builder.Cuda();
                else
                    builder.OpenCL();
            });
            if (kind == DeviceKind.Cuda && !context.Devices.Any(d => d.AcceleratorType != AcceleratorType.CPU))
                result.Add(new DeviceInfo(kind, "(CUDA driver)", 0, 0, 0, 0, $"no CUDA device found{DriverNote(kind)}"));
            foreach (var d in context.Devices)
            {
                if (d.AcceleratorType == AcceleratorType.CPU)
                    continue;
                string? problem = d is CLDevice cl && !cl.Capabilities.GenericAddressSpace
                    ? "no generic address space support, which ILGPU needs"
                    : null;
                result.Add(new DeviceInfo(kind, d.Name, d.MemorySize, d.WarpSize, d.NumMultiprocessors, d.MaxNumThreadsPerGroup, problem));
            }
        }
        catch (Exception e)
        {
            result.Add(new DeviceInfo(kind, $"({KindName(kind)} driver)", 0, 0, 0, 0, e.Message));
        }

        return result;
    }

    // Why CUDA found nothing, when it is the driver library that is missing.
    private static string DriverNote(DeviceKind kind) =>
        kind == DeviceKind.Cuda && NativeLibraries.Outcome("cuda") is { } outcome && outcome.StartsWith("not found", StringComparison.Ordinal)
            ? $": the driver library libcuda is {outcome}"
            : "";

    private static DeviceNotFoundException NotFound(string requested)
    {
        var found = Discover();
        return new DeviceNotFoundException(
            $"Device '{requested}' was requested but is not available. Found: {string.Join("; ", found)}.");
    }

    private static string KindName(DeviceKind kind) => kind == DeviceKind.Cuda ? "CUDA" : "OpenCL";
}
