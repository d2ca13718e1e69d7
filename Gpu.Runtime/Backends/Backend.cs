using Gpu.Kernels;

namespace Gpu.Runtime.Backends;

/// <summary>A per-row or per-parameter quantity the reductions sum besides the pointwise losses (cross-entropy, the regularization penalty, a correct prediction).</summary>
internal enum TermKind
{
    CrossEntropy,
    Regularization,
    Correct,
}

/// <summary>
/// How ops run on one device, chosen once when the device is created (the way PyTorch's dispatcher
/// or candle's backends separate an op's definition from its implementation): <see cref="Host.HostBackend"/>
/// runs them as vectorised .NET code on the CPU accelerator's memory, <see cref="Kernels.KernelBackend"/>
/// launches the ILGPU kernels of Gpu.Kernels (and cuBLAS for matrix products where it loads).
/// The launchers in <see cref="Ops"/> validate every operand and then call exactly one method here
/// through <see cref="Device.Dispatch"/>, which counts it; a backend never validates user input.
/// Sizes are passed in explicitly, so no method needs to look at a tensor's shape.
/// </summary>
internal abstract class Backend : IDisposable
{
    /// <summary>What runs the ops, for reports: e.g. "host SIMD" or "ILGPU kernels, cuBLAS 12".</summary>
    public abstract string Description { get; }

    /// <summary>Compiles every kernel this backend may launch (nothing on the host path).</summary>
    public abstract void CompileAll();

    /// <summary>Kernels compiled so far.</summary>
    public abstract int CompiledKernels { get; }

    public abstract void Zero(Tensor y);

    public abstract void Fill(Tensor y, float value);

    public abstract void Relu(Tensor x, Tensor y);

    public abstract void ReluBackward(Tensor y, Tensor dy, Tensor dx);

    public abstract void Activation<TActivation>(TActivation f, Tensor x, Tensor y)
        where TActivation : unmanaged, IActivation;

    public abstract void ActivationBackward<TActivation>(TActivation f, Tensor x, Tensor y, Tensor dy, Tensor dx)
        where TActivation : unmanaged, IActivation;

    public abstract void Multiply(Tensor a, Tensor b, Tensor y);

    public abstract void DropoutMask(Tensor mask, ulong seed, long step, long offset, int threshold, float scale);

    /// <summary>Rows <c>indices[offset ..]</c> of <paramref name="source"/> into <paramref name="destination"/>, rows of <paramref name="rowLength"/> elements.</summary>
    public abstract void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination, int rowLength);

    /// <summary>
    /// The product, C = op(A) op(B) (+ bias) (+ C), then torch.relu's rule on C when
    /// <paramref name="relu"/>; <paramref name="algorithm"/> is the caller's request (Auto: the backend's choice).
    /// </summary>
    public abstract void MatMul(string op, Tensor a, Tensor b, Tensor c, Tensor? bias, MatMulShape shape, MatMulAlgorithm algorithm, bool relu = false);

    public abstract void ColumnSums(Tensor x, Tensor y, int rows, int columns, bool accumulate);

    /// <summary><c>output[0] = scale * sum of term(i)</c> over <paramref name="items"/> items (rows of <paramref name="width"/> for row-wise terms).</summary>
    public abstract void Sum(TermKind term, Tensor a, Tensor b, Tensor output, int items, int width, float scale, float l1 = 0, float l2 = 0);

    /// <summary><c>output[r]</c> = the cross-entropy of row r (reduction 'none').</summary>
    public abstract void CrossEntropyTerms(Tensor logits, Tensor labels, Tensor output, int rows, int classes);

    /// <summary>The cross-entropy's gradient with respect to the logits, <paramref name="scale"/> = weight/rows for 'mean'.</summary>
    public abstract void CrossEntropyBackward(Tensor logits, Tensor labels, Tensor grad, int rows, int classes, float scale);

    /// <summary><c>output[0] = scale * sum of loss.Term(input[i], target[i])</c>.</summary>
    public abstract void PointwiseLossSum<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n, float scale)
        where TLoss : unmanaged, IPointwiseLoss;

    /// <summary><c>output[i] = loss.Term(input[i], target[i])</c> (reduction 'none').</summary>
    public abstract void PointwiseLossTerms<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n)
        where TLoss : unmanaged, IPointwiseLoss;

    /// <summary><c>grad[i] = scale * loss.Gradient(input[i], target[i])</c>.</summary>
    public abstract void PointwiseLossBackward<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor grad, int n, float scale)
        where TLoss : unmanaged, IPointwiseLoss;

    /// <summary>One step of an optimizer rule over flat parameters, gradients and up to three states (null where unused).</summary>
    public abstract void OptimizerStep<TRule>(TRule rule, Tensor p, Tensor g, Tensor? s0, Tensor? s1, Tensor? s2)
        where TRule : unmanaged, IOptimizerRule;

    /// <summary>y (B, out, OH, OW) = conv2d(x, w) + bias (then ReLU when <paramref name="relu"/>), each backend in the way that measures fastest on it.</summary>
    public abstract void Conv2d(Tensor x, Tensor w, Tensor? bias, Tensor y, ConvShape s, int outChannels, bool relu);

    /// <summary>dw += dW, dbias += db (when not null), dx = dX (overwritten, when not null).</summary>
    public abstract void Conv2dBackward(Tensor x, Tensor w, Tensor dy, Tensor dw, Tensor? dbias, Tensor? dx, ConvShape s, int outChannels);

    public abstract void MaxPool(Tensor x, Tensor y, IndexBuffer indices, PoolShape s);

    public abstract void MaxPoolBackward(Tensor dy, IndexBuffer indices, Tensor dx, PoolShape s);

    public abstract void AvgPool(Tensor x, Tensor y, PoolShape s);

    public abstract void AvgPoolBackward(Tensor dy, Tensor dx, PoolShape s);

    /// <summary>Runs an op that carries both of its implementations (<see cref="IDeviceOp"/>): this backend picks its own.</summary>
    public abstract void Run<TOp>(in TOp op)
        where TOp : struct, IDeviceOp;

    public virtual void Dispose()
    {
    }
}
