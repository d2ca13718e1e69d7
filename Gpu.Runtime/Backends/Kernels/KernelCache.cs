using Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace Gpu.Runtime.Backends.Kernels;

/// <summary>
/// Every kernel of Gpu.Kernels, compiled at most once per accelerator: each is loaded on first use
/// (or all at once by <see cref="CompileAll"/>) and kept, so no launch on the hot path ever
/// compiles. Not thread-safe, like the device that owns it. Launches are counted by the device
/// (<see cref="Device.Dispatch"/>), not here.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly Dictionary<(string Name, Type? Term), Delegate> loaded = [];

    /// <summary>Kernels compiled so far on this accelerator (each at most once).</summary>
    public int Compiled => loaded.Count;

    public Action<AcceleratorStream, Index1D, ArrayView<float>, float, int, int> Fill =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, float, int, int>>(nameof(Fill), Method(ElementwiseKernels.Fill));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int> Relu =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int>>(nameof(Relu), Method(ElementwiseKernels.Relu));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> ReluBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(nameof(ReluBackward), Method(ElementwiseKernels.ReluBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> Multiply =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(nameof(Multiply), Method(ElementwiseKernels.Multiply));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int> BroadcastRows =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int>>(nameof(BroadcastRows), Method(ElementwiseKernels.BroadcastRows));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, int> GatherRows =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, int>>(nameof(GatherRows), Method(ElementwiseKernels.GatherRows));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ulong, long, long, int, float, int, int> DropoutMask =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ulong, long, long, int, float, int, int>>(nameof(DropoutMask), Method(RandomKernels.DropoutMask));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, int> MatMulRowBlocked =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape, int>>(nameof(MatMulRowBlocked), Method(MatMulKernels.RowBlocked));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape> MatMulTiled =>
        Explicit<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>>(nameof(MatMulTiled), Method(MatMulKernels.Tiled));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape> MatMulRegisterTiled =>
        Explicit<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulShape>>(nameof(MatMulRegisterTiled), Method(MatMulKernels.RegisterTiled));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, float> FinalSum =>
        Explicit<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, float>>(nameof(FinalSum), Method(ReductionKernels.FinalSum));

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> ColumnSums =>
        Explicit<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>>(nameof(ColumnSums), Method(ReductionKernels.ColumnSums));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int> MseBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>>(nameof(MseBackward), Method(LossKernels.MseBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int> BceWithLogitsBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>>(nameof(BceWithLogitsBackward), Method(LossKernels.BceWithLogitsBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int, int> CrossEntropyBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int, int>>(nameof(CrossEntropyBackward), Method(LossKernels.CrossEntropyBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParameters, int, int> Adam =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamParameters, int, int>>(nameof(Adam), Method(OptimizerKernels.Adam));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParameters, int, int> Sgd =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdParameters, int, int>>(nameof(Sgd), Method(OptimizerKernels.Sgd));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvShape, int, int> ConvPatches =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvShape, int, int>>(nameof(ConvPatches), Method(ConvolutionKernels.Patches));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvShape, int, int> ConvPatchesBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ConvShape, int, int>>(nameof(ConvPatchesBackward), Method(ConvolutionKernels.PatchesBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int> BatchedTranspose =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>>(nameof(BatchedTranspose), Method(ConvolutionKernels.BatchedTranspose));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape, int, int> MaxPool =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, PoolShape, int, int>>(nameof(MaxPool), Method(PoolingKernels.MaxPool));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape, int, int> MaxPoolBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, PoolShape, int, int>>(nameof(MaxPoolBackward), Method(PoolingKernels.MaxPoolBackward));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolShape, int, int> AvgPool =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolShape, int, int>>(nameof(AvgPool), Method(PoolingKernels.AvgPool));

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolShape, int, int> AvgPoolBackward =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, PoolShape, int, int>>(nameof(AvgPoolBackward), Method(PoolingKernels.AvgPoolBackward));

    /// <summary>An activation's forward kernel.</summary>
    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, TActivation, int, int> Activation<TActivation>()
        where TActivation : unmanaged, IActivation =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, TActivation, int, int>>(
            nameof(Activation), Generic(typeof(ActivationKernels), nameof(ActivationKernels.Forward), typeof(TActivation)), typeof(TActivation));

    /// <summary>An activation's backward kernel.</summary>
    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, TActivation, int, int> ActivationBackward<TActivation>()
        where TActivation : unmanaged, IActivation =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, TActivation, int, int>>(
            nameof(ActivationBackward), Generic(typeof(ActivationKernels), nameof(ActivationKernels.Backward), typeof(TActivation)), typeof(TActivation));

    /// <summary>First reduction stage for one term type.</summary>
    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int> PartialSums<TTerm>()
        where TTerm : unmanaged, IReductionTerm =>
        Explicit<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int>>(
            nameof(PartialSums), Generic(typeof(ReductionKernels), nameof(ReductionKernels.PartialSums), typeof(TTerm)), typeof(TTerm));

    /// <summary>Unreduced terms for one term type.</summary>
    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int, int> Terms<TTerm>()
        where TTerm : unmanaged, IReductionTerm =>
        Implicit<Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TTerm, int, int, int>>(
            nameof(Terms), Generic(typeof(ReductionKernels), nameof(ReductionKernels.Terms), typeof(TTerm)), typeof(TTerm));

    /// <summary>Compiles every kernel now, so that the first training step does not pay for compilation.</summary>
    public void CompileAll(bool includeTiled)
    {
        _ = Fill; _ = Relu; _ = ReluBackward; _ = Multiply; _ = BroadcastRows; _ = GatherRows; _ = DropoutMask; _ = MatMulRowBlocked;
        _ = FinalSum; _ = ColumnSums; _ = MseBackward; _ = BceWithLogitsBackward; _ = CrossEntropyBackward; _ = Adam; _ = Sgd;
        _ = ConvPatches; _ = ConvPatchesBackward; _ = BatchedTranspose; _ = MaxPool; _ = MaxPoolBackward; _ = AvgPool; _ = AvgPoolBackward;
        if (includeTiled)
        {
            _ = MatMulTiled;
            _ = MatMulRegisterTiled;
        }
        _ = PartialSums<SquaredErrorTerm>(); _ = PartialSums<BceWithLogitsTerm>(); _ = PartialSums<CrossEntropyTerm>();
        _ = PartialSums<RegularizationTerm>(); _ = PartialSums<CorrectTerm>();
        _ = Terms<SquaredErrorTerm>(); _ = Terms<BceWithLogitsTerm>(); _ = Terms<CrossEntropyTerm>();
        _ = Activation<TanhActivation>(); _ = Activation<SigmoidActivation>(); _ = Activation<GeluActivation>(); _ = Activation<LeakyReluActivation>();
        _ = ActivationBackward<TanhActivation>(); _ = ActivationBackward<SigmoidActivation>(); _ = ActivationBackward<GeluActivation>(); _ = ActivationBackward<LeakyReluActivation>();
    }

    private static System.Reflection.MethodInfo Method(Delegate kernel) => kernel.Method;

    private static System.Reflection.MethodInfo Generic(Type type, string name, Type argument) =>
        type.GetMethod(name)!.MakeGenericMethod(argument);

    // An implicitly grouped kernel (first parameter Index1D), loaded once per (name, term type).
    private T Implicit<T>(string name, System.Reflection.MethodInfo kernel, Type? term = null)
        where T : Delegate => Get<T>(name, term, () => accelerator.LoadAutoGroupedKernel<T>(kernel));

    // An explicitly grouped kernel (KernelConfig), loaded once per (name, term type).
    private T Explicit<T>(string name, System.Reflection.MethodInfo kernel, Type? term = null)
        where T : Delegate => Get<T>(name, term, () => accelerator.LoadKernel<T>(kernel));

    private T Get<T>(string name, Type? term, Func<T> load)
        where T : Delegate
    {
        if (!loaded.TryGetValue((name, term), out var kernel))
        {
            kernel = load();
            loaded.Add((name, term), kernel);
        }

        return (T)kernel;
    }
}
