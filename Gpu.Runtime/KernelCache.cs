using Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime;

/// <summary>
/// Every kernel of Gpu.Kernels, compiled at most once per accelerator: each is loaded on first use
/// (or all at once by <see cref="CompileAll"/>) and kept in a field, so no launch on the hot path
/// ever compiles. Not thread-safe, like the device that owns it.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private Action<AcceleratorStream, Index1D, ArrayView<float>, float, int, int>? fill;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int>? relu;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? reluBackward;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int>? broadcastRows;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, int>? gatherRows;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, int>? matMulRowBlocked;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>? matMulTiled;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, float>? finalSum;
    private Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? columnSums;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>? mseBackward;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>? bceBackward;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int, int>? crossEntropyBackward;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParameters, int, int>? adam;
    private Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParameters, int, int>? sgd;
    private readonly Dictionary<Type, Delegate> partialSums = [];
    private readonly Dictionary<Type, Delegate> terms = [];

    public Action<AcceleratorStream, Index1D, ArrayView<float>, float, int, int> Fill =>
        Counted(fill ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float, int, int>(ElementwiseKernels.Fill)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> Relu =>
        Counted(relu ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.Relu)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> ReluBackward =>
        Counted(reluBackward ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ElementwiseKernels.ReluBackward)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> BroadcastRows =>
        Counted(broadcastRows ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(ElementwiseKernels.BroadcastRows)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, int> GatherRows =>
        Counted(gatherRows ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, int>(ElementwiseKernels.GatherRows)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, int> MatMulRowBlocked =>
        Counted(matMulRowBlocked ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, int>(MatMulKernels.RowBlocked)));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape> MatMulTiled =>
        Counted(matMulTiled ??= Loaded(accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>(MatMulKernels.Tiled)));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, float> FinalSum =>
        Counted(finalSum ??= Loaded(accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, float>(ReductionKernels.FinalSum)));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> ColumnSums =>
        Counted(columnSums ??= Loaded(accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, int, int, int>(ReductionKernels.ColumnSums)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int> MseBackward =>
        Counted(mseBackward ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>(LossKernels.MseBackward)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int> BceWithLogitsBackward =>
        Counted(bceBackward ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>(LossKernels.BceWithLogitsBackward)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int, int> CrossEntropyBackward =>
        Counted(crossEntropyBackward ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int, int>(LossKernels.CrossEntropyBackward)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParameters, int, int> Adam =>
        Counted(adam ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParameters, int, int>(OptimizerKernels.Adam)));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParameters, int, int> Sgd =>
        Counted(sgd ??= Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParameters, int, int>(OptimizerKernels.Sgd)));

    /// <summary>First reduction stage for one term type.</summary>
    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int> PartialSums<TTerm>()
        where TTerm : unmanaged, IReductionTerm
    {
        if (!partialSums.TryGetValue(typeof(TTerm), out var kernel))
        {
            kernel = Loaded(accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int>(ReductionKernels.PartialSums));
            partialSums.Add(typeof(TTerm), kernel);
        }

        Launches++;
        return (Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int>)kernel;
    }

    /// <summary>Unreduced terms for one term type.</summary>
    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int, int> Terms<TTerm>()
        where TTerm : unmanaged, IReductionTerm
    {
        if (!terms.TryGetValue(typeof(TTerm), out var kernel))
        {
            kernel = Loaded(accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int, int>(ReductionKernels.Terms));
            terms.Add(typeof(TTerm), kernel);
        }

        Launches++;
        return (Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int, int>)kernel;
    }

    /// <summary>
    /// Kernel launches so far: every launcher fetches its kernel from this cache right before
    /// launching it, so each fetch counts one launch (memsets and cuBLAS calls are added by the device).
    /// </summary>
    public long Launches { get; set; }

    /// <summary>Compiles every kernel now, so that the first training step does not pay for compilation.</summary>
    public void CompileAll(bool includeTiled)
    {
        long launches = Launches;
        _ = Fill; _ = Relu; _ = ReluBackward; _ = BroadcastRows; _ = GatherRows; _ = MatMulRowBlocked;
        _ = FinalSum; _ = ColumnSums; _ = MseBackward; _ = BceWithLogitsBackward; _ = CrossEntropyBackward; _ = Adam; _ = Sgd;
        if (includeTiled)
            _ = MatMulTiled;
        _ = PartialSums<SquaredErrorTerm>(); _ = PartialSums<BceWithLogitsTerm>(); _ = PartialSums<CrossEntropyTerm>(); _ = PartialSums<RegularizationTerm>();
        _ = Terms<SquaredErrorTerm>(); _ = Terms<BceWithLogitsTerm>(); _ = Terms<CrossEntropyTerm>();
        Launches = launches; // compiling is not launching
    }

    /// <summary>Kernels compiled so far on this accelerator (each at most once).</summary>
    public int Compiled { get; private set; }

    private T Loaded<T>(T kernel)
    {
        Compiled++;
        return kernel;
    }

    private T Counted<T>(T kernel)
    {
        Launches++;
        return kernel;
    }
}
