using Gpu.Kernels;
using Gpu.Runtime.Backends.Host;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime.Backends.Kernels;

/// <summary>
/// Runs every op as an ILGPU kernel on the device's stream (CUDA, OpenCL, or the CPU accelerator
/// for tests), with cuBLAS for matrix products on CUDA when it loads. Grid-stride kernels are sized
/// by <see cref="LaunchGeometry"/>; reductions are two fixed-order stages through a scratch buffer,
/// so results are deterministic per device.
/// </summary>
internal sealed class KernelBackend : Backend
{
    private readonly Device device;
    private readonly KernelCache kernels;
    private readonly LaunchGeometry geometry;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> scratch;
    private CuBlasMatMul? cuBlas;
    private bool cuBlasTried;
    private Tensor? patchScratch;
    private Tensor? channelsLastScratch;
    private Tensor? gradPatchScratch;

    public KernelBackend(Device device)
    {
        this.device = device;
        kernels = new KernelCache(device.Accelerator);
        geometry = new LaunchGeometry(device.Accelerator);
        scratch = device.Accelerator.Allocate1D<float>(geometry.MaxReductionGroups);
    }

    public override string Description =>
        device.Kind == DeviceKind.Cuda
            ? CuBlas is null
                ? $"ILGPU kernels (no cuBLAS: {CuBlasProblem}; library: {NativeLibraries.Outcome("cublas") ?? "not tried"})"
                : $"ILGPU kernels, cuBLAS for matrix products ({NativeLibraries.Outcome("cublas") ?? "libcublas"})"
            : "ILGPU kernels";

    /// <summary>Launch sizes of this accelerator.</summary>
    public LaunchGeometry Geometry => geometry;

    /// <summary>cuBLAS, or null when this is not CUDA or the library does not load (tried once).</summary>
    public CuBlasMatMul? CuBlas
    {
        get
        {
            if (!cuBlasTried)
            {
                cuBlasTried = true;
                if (device.Accelerator is CudaAccelerator cuda)
                    cuBlas = CuBlasMatMul.TryCreate(cuda, out cuBlasProblem);
                else
                    cuBlasProblem = "not a CUDA device";
            }

            return cuBlas;
        }
    }

    /// <summary>Why cuBLAS is not used, once it has been tried.</summary>
    public string? CuBlasProblem => cuBlasTried ? cuBlasProblem : null;

    private string? cuBlasProblem;

    /// <summary>The device's stream, which every launch goes to.</summary>
    internal AcceleratorStream Stream => device.Accelerator.DefaultStream;

    /// <summary>The compiled kernels, for ops that launch their own (<see cref="IDeviceOp"/>).</summary>
    internal KernelCache Kernels => kernels;

    public override int CompiledKernels => kernels.Compiled;

    public override void CompileAll() => kernels.CompileAll();

    public override void Zero(Tensor y) => y.View.MemSetToZero(Stream);

    public override void Fill(Tensor y, float value)
    {
        int n = y.Length, threads = geometry.Threads(n);
        kernels.Launch(ElementwiseKernels.Fill, Stream, threads, y.Flat, value, n, threads);
    }

    public override void Relu(Tensor x, Tensor y)
    {
        int n = x.Length, threads = geometry.Threads(n);
        kernels.Launch(ElementwiseKernels.Relu, Stream, threads, x.Flat, y.Flat, n, threads);
    }

    public override void ReluBackward(Tensor y, Tensor dy, Tensor dx)
    {
        int n = y.Length, threads = geometry.Threads(n);
        kernels.Launch(ElementwiseKernels.ReluBackward, Stream, threads, y.Flat, dy.Flat, dx.Flat, n, threads);
    }

    public override void Activation<TActivation>(TActivation f, Tensor x, Tensor y)
    {
        int n = x.Length, threads = geometry.Threads(n);
        kernels.Launch(ActivationKernels.Forward<TActivation>, Stream, threads, x.Flat, y.Flat, f, n, threads);
    }

    public override void ActivationBackward<TActivation>(TActivation f, Tensor x, Tensor y, Tensor dy, Tensor dx)
    {
        int n = x.Length, threads = geometry.Threads(n);
        kernels.Launch(ActivationKernels.Backward<TActivation>, Stream, threads, x.Flat, y.Flat, dy.Flat, dx.Flat, f, n, threads);
    }

    public override void Multiply(Tensor a, Tensor b, Tensor y)
    {
        int n = a.Length, threads = geometry.Threads(n);
        kernels.Launch(ElementwiseKernels.Multiply, Stream, threads, a.Flat, b.Flat, y.Flat, n, threads);
    }

    public override void DropoutMask(Tensor mask, ulong seed, long step, long offset, int threshold, float scale)
    {
        int n = mask.Length, threads = geometry.Threads(n);
        kernels.Launch(RandomKernels.DropoutMask, Stream, threads, mask.Flat, seed, step, offset, threshold, scale, n, threads);
    }

    public override void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination, int rowLength)
    {
        int n = destination.Length, threads = geometry.Threads(n);
        kernels.Launch(ElementwiseKernels.GatherRows, Stream, threads, source.Flat, indices.Flat, destination.Flat, offset, rowLength, n, threads);
    }

    public override void MatMul(string op, Tensor a, Tensor b, Tensor c, Tensor? bias, MatMulShape shape, MatMulAlgorithm algorithm, bool relu = false)
    {
        var resolved = Resolve(op, algorithm);
        if (resolved == MatMulAlgorithm.CuBlas && bias is not null && shape.Accumulate != 0)
            resolved = geometry.SupportsTiledMatMul ? MatMulAlgorithm.RegisterTiled : MatMulAlgorithm.RowBlocked; // no bias epilogue on top of an accumulated C
        var biasView = bias is null ? c.Flat : bias.Flat; // never read without HasBias
        switch (resolved)
        {
            case MatMulAlgorithm.Host:
                Stream.Synchronize();
                unsafe
                {
                    // The host product applies the ReLU itself.
                    Backends.Host.HostMatMul.Run(a.HostPointer, b.HostPointer, c.HostPointer, bias is null ? null : bias.HostPointer, shape, relu: relu);
                    return;
                }

            case MatMulAlgorithm.RowBlocked:
                int threads = (int)Math.Min(geometry.MaxThreads, (shape.M + MatMulKernels.RowBlock - 1) / MatMulKernels.RowBlock);
                kernels.Launch(MatMulKernels.RowBlocked, Stream, threads, a.Flat, b.Flat, c.Flat, biasView, shape, threads);
                break;
            case MatMulAlgorithm.Tiled:
                kernels.LaunchGrouped(MatMulKernels.Tiled, Stream, new KernelConfig(TiledGrid(op, shape, MatMulKernels.Tile), new Index2D(MatMulKernels.GroupSide, MatMulKernels.GroupSide)),
                    a.Flat, b.Flat, c.Flat, biasView, shape);
                break;
            case MatMulAlgorithm.RegisterTiled:
                kernels.LaunchGrouped(MatMulKernels.RegisterTiled, Stream, new KernelConfig(TiledGrid(op, shape, MatMulKernels.BigTile), new Index2D(MatMulKernels.GroupSide, MatMulKernels.GroupSide)),
                    a.Flat, b.Flat, c.Flat, biasView, shape);
                break;
            default:
                // cuBLAS has no bias epilogue: seed C with the bias rows, then C = A B + 1 C.
                float beta = shape.Accumulate != 0 ? 1f : 0f;
                if (bias is not null)
                {
                    int count = c.Length, broadcastThreads = geometry.Threads(count);
                    kernels.Launch(ElementwiseKernels.BroadcastRows, Stream, broadcastThreads, bias.Flat, c.Flat, shape.N, count, broadcastThreads);
                    beta = 1f;
                }

                CuBlas!.Gemm(a.View, b.View, c.View, shape, beta);
                break;
        }

        // The kernels have no ReLU epilogue: a ReLU launch after the product's.
        if (relu)
            Relu(c, c);
    }

    public override void ColumnSums(Tensor x, Tensor y, int rows, int columns, bool accumulate)
    {
        // Lanes along the columns (coalesced reads), phases along the rows.
        int lanes = Math.Min(32, geometry.ReductionGroupSize);
        int phases = Math.Max(1, geometry.ReductionGroupSize / lanes);
        int groups = (columns + lanes - 1) / lanes;
        kernels.LaunchGrouped(ReductionKernels.ColumnSums, Stream, new KernelConfig(new Index2D(groups, 1), new Index2D(lanes, phases)), x.Flat, y.Flat, rows, columns, accumulate ? 1 : 0);
    }

    public override void Sum(TermKind term, Tensor a, Tensor b, Tensor output, int items, int width, float scale, float l1 = 0, float l2 = 0)
    {
        switch (term)
        {
            case TermKind.CrossEntropy: Reduce(default(CrossEntropyTerm), a, b, output, items, width, scale); break;
            case TermKind.Correct: Reduce(default(CorrectTerm), a, b, output, items, width, scale); break;
            default: Reduce(new RegularizationTerm { L1 = l1, L2 = l2 }, a, b, output, items, width, scale); break;
        }
    }

    public override void CrossEntropyTerms(Tensor logits, Tensor labels, Tensor output, int rows, int classes) =>
        LaunchTerms(default(CrossEntropyTerm), logits, labels, output, rows, classes);

    public override void CrossEntropyBackward(Tensor logits, Tensor labels, Tensor grad, int rows, int classes, float scale)
    {
        int threads = geometry.Threads(rows);
        kernels.Launch(LossKernels.CrossEntropyBackward, Stream, threads, logits.Flat, labels.Flat, grad.Flat, scale, rows, classes, threads);
    }

    public override void PointwiseLossSum<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n, float scale) =>
        Reduce(loss, input, target, output, n, 1, scale);

    public override void PointwiseLossTerms<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n) =>
        LaunchTerms(loss, input, target, output, n, 1);

    public override void PointwiseLossBackward<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor grad, int n, float scale)
    {
        int threads = geometry.Threads(n);
        kernels.Launch(LossKernels.PointwiseBackward<TLoss>, Stream, threads, input.Flat, target.Flat, grad.Flat, loss, scale, n, threads);
    }

    public override void OptimizerStep<TRule>(TRule rule, Tensor p, Tensor g, Tensor? s0, Tensor? s1, Tensor? s2)
    {
        // The gradient stands in for states the rule's configuration does not use: never written.
        int n = p.Length, threads = geometry.Threads(n);
        kernels.Launch(OptimizerKernels.Step<TRule>, Stream, threads, p.Flat, g.Flat, (s0 ?? g).Flat, (s1 ?? g).Flat, (s2 ?? g).Flat, rule, n, threads);
    }

    // Conv2d for the whole batch at once: one patch matrix (B P, K), one large product (cuBLAS on
    // CUDA), one transpose to NCHW. Few launches and large products suit a GPU (docs/kernels.md).
    public override void Conv2d(Tensor x, Tensor w, Tensor? bias, Tensor y, ConvShape s, int outChannels, bool relu)
    {
        int rows = s.Batch * s.Positions, k = s.PatchLength;
        var patches = Scratch(ref patchScratch, (long)rows * k);
        var channelsLast = Scratch(ref channelsLastScratch, (long)rows * outChannels);
        Patches(x, patches, s, rows * k);
        MatMul("Conv2d", patches, w, channelsLast, bias, MatMulShape.Create(rows, outChannels, k, false, true, bias is not null, false), MatMulAlgorithm.Auto);
        Transpose(channelsLast, y, s.Positions, outChannels, (int)((long)s.Batch * s.Positions * outChannels));
        if (relu)
            Relu(y, y);
    }

    public override void Conv2dBackward(Tensor x, Tensor w, Tensor dy, Tensor dw, Tensor? dbias, Tensor? dx, ConvShape s, int outChannels)
    {
        int rows = s.Batch * s.Positions, k = s.PatchLength;
        var dyChannelsLast = Scratch(ref channelsLastScratch, (long)rows * outChannels);
        var patches = Scratch(ref patchScratch, (long)rows * k);
        Transpose(dy, dyChannelsLast, outChannels, s.Positions, rows * outChannels);
        Patches(x, patches, s, rows * k); // recomputed: cheaper than keeping a batch of patches between passes
        MatMul("Conv2dBackward", dyChannelsLast, patches, dw, null, MatMulShape.Create(outChannels, k, rows, true, false, false, true), MatMulAlgorithm.Auto);
        if (dbias is not null)
            ColumnSums(dyChannelsLast, dbias, rows, outChannels, accumulate: true);
        if (dx is null)
            return;
        var gradPatches = Scratch(ref gradPatchScratch, (long)rows * k);
        MatMul("Conv2dBackward", dyChannelsLast, w, gradPatches, null, MatMulShape.Create(rows, k, outChannels, false, false, false, false), MatMulAlgorithm.Auto);
        int n = dx.Length, threads = geometry.Threads(n);
        kernels.Launch(ConvolutionKernels.PatchesBackward, Stream, threads, gradPatches.Flat, dx.Flat, s, n, threads);
    }

    public override void MaxPool(Tensor x, Tensor y, IndexBuffer indices, PoolShape s)
    {
        int n = y.Length, threads = geometry.Threads(n);
        kernels.Launch(PoolingKernels.MaxPool, Stream, threads, x.Flat, y.Flat, indices.Flat, s, n, threads);
    }

    public override void MaxPoolBackward(Tensor dy, IndexBuffer indices, Tensor dx, PoolShape s)
    {
        int n = dx.Length, threads = geometry.Threads(n);
        kernels.Launch(PoolingKernels.MaxPoolBackward, Stream, threads, dy.Flat, indices.Flat, dx.Flat, s, n, threads);
    }

    public override void AvgPool(Tensor x, Tensor y, PoolShape s)
    {
        int n = y.Length, threads = geometry.Threads(n);
        kernels.Launch(PoolingKernels.AvgPool, Stream, threads, x.Flat, y.Flat, s, n, threads);
    }

    public override void AvgPoolBackward(Tensor dy, Tensor dx, PoolShape s)
    {
        int n = dx.Length, threads = geometry.Threads(n);
        kernels.Launch(PoolingKernels.AvgPoolBackward, Stream, threads, dy.Flat, dx.Flat, s, n, threads);
    }

    public override void Run<TOp>(in TOp op) => op.RunOnKernels(this);

    public override void Dispose()
    {
        scratch.Dispose();
        patchScratch?.Dispose();
        channelsLastScratch?.Dispose();
        gradPatchScratch?.Dispose();
        if (cuBlas is not null)
        {
            device.Accelerator.Bind(); // cublasDestroy must run under this accelerator's context, whatever thread disposes
            cuBlas.Dispose();
        }
    }

    /// <summary>
    /// The grid of a tiled product: row tiles on X (up to 2^31 - 1 groups), column tiles on Y (up to
    /// 65,535, so outputs of up to 65,535 tiles' width).
    /// </summary>
    internal static Index2D TiledGrid(string op, MatMulShape shape, int tile)
    {
        long rows = (shape.M + (long)tile - 1) / tile, columns = (shape.N + (long)tile - 1) / tile;
        if (columns > ushort.MaxValue)
            throw new InvalidOperationException($"{op}: {shape.N} output columns need {columns} tiles of {tile}, more than the 65,535 a grid's Y axis allows.");
        return new Index2D((int)rows, (int)columns);
    }

    // A device buffer of at least `length` floats, kept and grown for the convolutions' intermediates.
    private Tensor Scratch(ref Tensor? buffer, long length)
    {
        if (length > int.MaxValue)
            throw new InvalidOperationException($"Conv2d: an intermediate of {length} floats exceeds the {int.MaxValue} a buffer can hold; use a smaller batch.");
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = device.Zeros(new TensorShape((int)length), "convolution scratch");
        }

        return buffer;
    }

    private void Patches(Tensor x, Tensor patches, ConvShape s, int n)
    {
        int threads = geometry.Threads(n);
        kernels.Launch(ConvolutionKernels.Patches, Stream, threads, x.Flat, patches.Flat, s, n, threads);
    }

    // Each of the batch's (rows, columns) matrices transposed; n = batch rows columns.
    private void Transpose(Tensor x, Tensor y, int rows, int columns, int n)
    {
        int threads = geometry.Threads(n);
        kernels.Launch(ConvolutionKernels.BatchedTranspose, Stream, threads, x.Flat, y.Flat, rows, columns, n, threads);
    }

    private MatMulAlgorithm Resolve(string op, MatMulAlgorithm requested)
    {
        var algorithm = requested == MatMulAlgorithm.Auto ? device.MatMulAlgorithm : requested;
        switch (algorithm)
        {
            case MatMulAlgorithm.Auto:
                if (device.Kind == DeviceKind.Cuda && CuBlas is not null)
                    return MatMulAlgorithm.CuBlas;
                return device.CpuProfile == CpuProfile.Fast || !geometry.SupportsTiledMatMul ? MatMulAlgorithm.RowBlocked : MatMulAlgorithm.RegisterTiled;
            case MatMulAlgorithm.Tiled or MatMulAlgorithm.RegisterTiled when !geometry.SupportsTiledMatMul:
                throw new InvalidOperationException($"{op}: the tiled kernel needs groups of 256 threads but {device.Info.Name} allows {device.Info.MaxGroupSize}.");
            case MatMulAlgorithm.Host when device.Kind != DeviceKind.Cpu:
                throw new InvalidOperationException($"{op}: the host path runs on CPU devices only, not on {device.Info.Name}.");
            case MatMulAlgorithm.CuBlas when CuBlas is null:
                throw new InvalidOperationException($"{op}: cuBLAS is not available on {device.Info.Name}: {CuBlasProblem}.");
            default:
                return algorithm;
        }
    }

    // sum_i term(i) * scale into output[0]: a fixed-order two-stage reduction (deterministic).
    private void Reduce<TTerm>(TTerm term, Tensor a, Tensor b, Tensor output, int items, int width, float scale)
        where TTerm : unmanaged, IReductionTerm
    {
        int groupSize = geometry.ReductionGroupSize;
        int groups = geometry.ReductionGroups(items);
        kernels.LaunchGrouped(ReductionKernels.PartialSums<TTerm>, Stream, new KernelConfig(groups, groupSize), a.Flat, b.Flat, scratch.View.AsContiguous(), term, items, width);
        kernels.LaunchGrouped(ReductionKernels.FinalSum, Stream, new KernelConfig(1, groupSize), scratch.View.AsContiguous(), output.Flat, groups, scale);
    }

    private void LaunchTerms<TTerm>(TTerm term, Tensor a, Tensor b, Tensor output, int items, int width)
        where TTerm : unmanaged, IReductionTerm
    {
        int threads = geometry.Threads(items);
        kernels.Launch(ReductionKernels.Terms<TTerm>, Stream, threads, a.Flat, b.Flat, output.Flat, term, items, width, threads);
    }
}
