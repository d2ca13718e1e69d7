using Gpu.Kernels;
using Gpu.Runtime.Backends;

namespace Gpu.Runtime;

/// <summary>
/// A loss computed element by element from outputs and targets, which <see cref="Ops.PointwiseLoss"/>
/// reduces and <see cref="Ops.PointwiseLossBackward"/> differentiates: one of these instances, each
/// bound to its struct in Gpu.Kernels (the term and its derivative, which the kernels and the host
/// path both run). A new pointwise loss is its struct there and one member here.
/// </summary>
public abstract class PointwiseLoss
{
    private protected PointwiseLoss(string name)
    {
        Name = name;
        BackwardName = name + "Backward";
    }

    /// <summary>torch.nn.MSELoss's term <c>(x - y)^2</c>.</summary>
    public static PointwiseLoss SquaredError { get; } = new Of<SquaredErrorTerm>("MseLoss", default);

    /// <summary>torch.nn.BCEWithLogitsLoss's term on logits x, in the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>.</summary>
    public static PointwiseLoss BceWithLogits { get; } = new Of<BceWithLogitsTerm>("BceWithLogitsLoss", default);

    /// <summary>torch.nn.HuberLoss's term: <c>0.5 d^2</c> for |d| &lt; delta, else <c>delta (|d| - 0.5 delta)</c>, with d = x - y and delta &gt; 0.</summary>
    public static PointwiseLoss Huber(float delta) =>
        float.IsFinite(delta) && delta > 0
            ? new Of<HuberTerm>("HuberLoss", new HuberTerm { Delta = delta })
            : throw new ArgumentOutOfRangeException(nameof(delta), delta, "HuberLoss: delta must be a finite number > 0.");

    /// <summary>The op's name in errors, e.g. "MseLoss".</summary>
    public string Name { get; }

    /// <summary>The backward op's name in errors, made once (a training step allocates nothing).</summary>
    internal string BackwardName { get; }

    internal abstract void Sum(Backend backend, Tensor input, Tensor target, Tensor output, int n, float scale);

    internal abstract void Terms(Backend backend, Tensor input, Tensor target, Tensor output, int n);

    internal abstract void Backward(Backend backend, Tensor input, Tensor target, Tensor grad, int n, float scale);

    private sealed class Of<TLoss>(string name, TLoss loss) : PointwiseLoss(name)
        where TLoss : unmanaged, IPointwiseLoss
    {
        internal override void Sum(Backend backend, Tensor input, Tensor target, Tensor output, int n, float scale) =>
            backend.PointwiseLossSum(loss, input, target, output, n, scale);

        internal override void Terms(Backend backend, Tensor input, Tensor target, Tensor output, int n) =>
            backend.PointwiseLossTerms(loss, input, target, output, n);

        internal override void Backward(Backend backend, Tensor input, Tensor target, Tensor grad, int n, float scale) =>
            backend.PointwiseLossBackward(loss, input, target, grad, n, scale);
    }
}
