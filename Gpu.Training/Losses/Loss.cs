using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A loss criterion (torch.nn.*Loss). <see cref="Forward"/> returns the loss as a tensor that stays
/// on the device until read (<c>loss.Item()</c>); <see cref="Backward()"/> returns dLoss/dInput for the
/// last Forward, which seeds the model's backward pass:
/// <code>
/// var loss = criterion.Forward(model.Forward(x), y);
/// model.Backward(criterion.Backward());
/// </code>
/// The tensors returned belong to the criterion and are overwritten by its next call.
/// </summary>
public abstract class Loss(Reduction reduction) : IDisposable
{
    private readonly Workspace gradient = new();
    private readonly Workspace perItem = new();
    private Tensor? value;
    private Tensor? lastInput;
    private Tensor? lastTarget;

    public Reduction Reduction { get; } = reduction;

    /// <summary>The name the command line and model files use (its registry entry's).</summary>
    public string Name => Kind.Name;

    /// <summary>This loss's registry entry: its name, PyTorch class, output transform and flags.</summary>
    public LossEntry Kind => Registry<LossEntry>.Of(GetType()) ?? throw new InvalidOperationException($"{GetType().Name} has no LossEntry (implement IRegistered<LossEntry>).");

    /// <summary>The loss of <paramref name="input"/> against <paramref name="target"/>, left on the device.</summary>
    public Tensor Forward(Tensor input, Tensor target)
    {
        ArgumentNullException.ThrowIfNull(input);
        Tensor output;
        if (Reduction == Reduction.None)
        {
            output = perItem.Rows(input.Device, input.Shape.Rows, OutputColumns(input)).Reshape(NoneShape(input));
        }
        else
        {
            if (value is null || !ReferenceEquals(value.Device, input.Device))
            {
                value?.Dispose();
                value = input.Device.Zeros();
            }

            output = value;
        }

        ForwardInto(input, target, output);
        return output;
    }

    /// <summary>Writes the reduced loss into a one-element tensor (the trainer's per-step slots).</summary>
    internal void ForwardInto(Tensor input, Tensor target, Tensor output)
    {
        var t = PrepareTarget(input, target);
        Launch(input, t, output);
        lastInput = input;
        lastTarget = t;
    }

    /// <summary>dLoss/dInput of the last Forward (reduction 'mean' or 'sum').</summary>
    public Tensor Backward() => Backward(1f);

    /// <summary>
    /// dLoss/dInput of the last Forward times <paramref name="weight"/>: a batch's share of an
    /// optimizer step that accumulates several batches (its rows over the step's rows).
    /// </summary>
    public Tensor Backward(float weight)
    {
        var input = lastInput ?? throw new InvalidOperationException($"{GetType().Name}: Backward called before Forward.");
        var rows = gradient.Rows(input.Device, input.Shape.Rows, input.Shape.Length / Math.Max(1, input.Shape.Rows));
        var grad = rows.Shape.Equals(input.Shape) ? rows : rows.Reshape(input.Shape.ToArray());
        LaunchBackward(input, lastTarget!, grad, weight);
        return grad;
    }

    /// <summary>True for classifiers (cross-entropy; BCE on one output), whose accuracy the trainer reports.</summary>
    public virtual bool ReportsAccuracy(int outputs) => false;

    /// <summary>Predictions a sample's accuracy counts: one, or one per position of per-position logits.</summary>
    public virtual int PredictionsPerSample(TensorShape outputShape) => 1;

    /// <summary>Writes the number of correct predictions of <paramref name="input"/> against <paramref name="target"/> into a one-element tensor.</summary>
    internal void CountCorrect(Tensor input, Tensor target, Tensor output) => LaunchCountCorrect(input, PrepareTarget(input, target), output);

    /// <summary>Checks host targets before they reach the device (e.g. class indices), naming the first bad one.</summary>
    public virtual void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, TensorShape outputShape)
    {
        if (targetColumns != outputShape.Length)
            throw new ArgumentException($"{GetType().Name}: the targets have {targetColumns} columns but the model has {outputShape.Length} outputs.");
    }

    protected virtual void LaunchCountCorrect(Tensor input, Tensor target, Tensor output) => Ops.CountCorrect(input, target, output);

    protected abstract void Launch(Tensor input, Tensor target, Tensor output);

    protected abstract void LaunchBackward(Tensor input, Tensor target, Tensor gradInput, float weight);

    /// <summary>Adapts the target's layout to what the op expects (a view, never a copy).</summary>
    protected virtual Tensor PrepareTarget(Tensor input, Tensor target) => target;

    protected virtual int OutputColumns(Tensor input) => input.Shape.Columns;

    protected virtual int[] NoneShape(Tensor input) => input.Shape.ToArray();

    /// <summary>Builds a criterion from its registry name (mse, bce, ce, ...) with its default hyperparameters.</summary>
    public static Loss FromName(string name, Reduction reduction = Reduction.Mean) =>
        Registry<LossEntry>.Get(name, "loss").Create(HyperparameterValues.None, reduction);

    public virtual void Dispose()
    {
        value?.Dispose();
        gradient.Dispose();
        perItem.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>What <c>predict</c> and the ONNX export apply to a model's raw outputs to give probabilities.</summary>
public enum LossOutput
{
    /// <summary>Raw outputs (regression).</summary>
    None,

    /// <summary>An independent probability per output (binary cross-entropy on logits).</summary>
    Sigmoid,

    /// <summary>A distribution over the classes (cross-entropy).</summary>
    Softmax,
}

/// <summary>A loss's registry entry (<see cref="IRegistered{TEntry}"/>).</summary>
/// <param name="Name">The command line's and model files' name, e.g. "huber".</param>
/// <param name="Description">PyTorch's class and a word on use, for help texts.</param>
/// <param name="Output">What turns the model's outputs into probabilities for predict and ONNX.</param>
/// <param name="ClassIndices">True when targets are class indices and the model has one output per class (predict prints the class).</param>
/// <param name="Hyperparameters">The flags it reads (e.g. --huber-delta).</param>
/// <param name="Create">Builds the criterion from the flags' values.</param>
public sealed record LossEntry(
    string Name, string Description, LossOutput Output, bool ClassIndices, IReadOnlyList<Hyperparameter> Hyperparameters,
    Func<HyperparameterValues, Reduction, Loss> Create) : RegistryEntry(Name, Description);

/// <summary>
/// A loss computed element by element (<see cref="PointwiseLoss"/>): outputs and targets of the same
/// shape, any number of target columns. A new one is its term in Gpu.Kernels, its
/// <see cref="PointwiseLoss"/> in Gpu.Runtime, and a class deriving from this with its entry.
/// </summary>
public abstract class PointwiseCriterion(PointwiseLoss term, Reduction reduction) : Loss(reduction)
{
    protected override void Launch(Tensor input, Tensor target, Tensor output) => Ops.PointwiseLoss(term, input, target, output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput, float weight) =>
        Ops.PointwiseLossBackward(term, input, target, gradInput, Reduction, weight);
}
