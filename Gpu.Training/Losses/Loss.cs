using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A loss criterion (torch.nn.*Loss). <see cref="Forward"/> returns the loss as a tensor that stays
/// on the device until read (<c>loss.Item()</c>); <see cref="Backward"/> returns dLoss/dInput for the
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

    /// <summary>Short name used by the CLI and in checkpoints: mse, bce or ce.</summary>
    public abstract string Name { get; }

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
    public Tensor Backward()
    {
        var input = lastInput ?? throw new InvalidOperationException($"{GetType().Name}: Backward called before Forward.");
        var rows = gradient.Rows(input.Device, input.Shape.Rows, input.Shape.Columns);
        var grad = rows.Shape.Equals(input.Shape) ? rows : rows.Reshape(input.Shape.ToArray());
        LaunchBackward(input, lastTarget!, grad);
        return grad;
    }

    /// <summary>True for classifiers (cross-entropy; BCE on one output), whose accuracy the trainer reports.</summary>
    public virtual bool ReportsAccuracy(int outputs) => false;

    /// <summary>Writes the number of correct predictions of <paramref name="input"/> against <paramref name="target"/> into a one-element tensor.</summary>
    internal void CountCorrect(Tensor input, Tensor target, Tensor output) =>
        Ops.CountCorrect(input, PrepareTarget(input, target), output);

    /// <summary>Checks host targets before they reach the device (e.g. class indices), naming the first bad one.</summary>
    public virtual void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, int modelOutputs)
    {
        if (targetColumns != modelOutputs)
            throw new ArgumentException($"{GetType().Name}: the targets have {targetColumns} columns but the model has {modelOutputs} outputs.");
    }

    protected abstract void Launch(Tensor input, Tensor target, Tensor output);

    protected abstract void LaunchBackward(Tensor input, Tensor target, Tensor gradInput);

    /// <summary>Adapts the target's layout to what the op expects (a view, never a copy).</summary>
    protected virtual Tensor PrepareTarget(Tensor input, Tensor target) => target;

    protected virtual int OutputColumns(Tensor input) => input.Shape.Columns;

    protected virtual int[] NoneShape(Tensor input) => input.Shape.ToArray();

    /// <summary>Builds a criterion from its short name (mse, bce, ce).</summary>
    public static Loss FromName(string name, Reduction reduction = Reduction.Mean) => name.ToLowerInvariant() switch
    {
        "mse" => new MSELoss(reduction),
        "bce" => new BCEWithLogitsLoss(reduction),
        "ce" => new CrossEntropyLoss(reduction),
        _ => throw new ArgumentException($"Unknown loss '{name}': use mse, bce or ce.", nameof(name)),
    };

    public void Dispose()
    {
        value?.Dispose();
        gradient.Dispose();
        perItem.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>torch.nn.MSELoss: mean (or sum, or none) of <c>(input - target)^2</c>.</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    public override string Name => "mse";

    protected override void Launch(Tensor input, Tensor target, Tensor output) => Ops.MseLoss(input, target, output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput) => Ops.MseLossBackward(input, target, gradInput, Reduction);
}

/// <summary>
/// torch.nn.BCEWithLogitsLoss: binary cross-entropy on logits (the model's raw outputs), computed in
/// the stable form <c>max(x, 0) - x y + log(1 + exp(-|x|))</c>. Targets are probabilities in [0, 1].
/// </summary>
public sealed class BCEWithLogitsLoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    public override string Name => "bce";

    public override bool ReportsAccuracy(int outputs) => outputs == 1;

    public override void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, int modelOutputs)
    {
        base.ValidateTargets(targets, targetColumns, modelOutputs);
        for (int i = 0; i < targets.Length; i++)
        {
            if (!(targets[i] >= 0f && targets[i] <= 1f))
                throw new ArgumentException($"BCEWithLogitsLoss: target {i} is {targets[i]}; targets must lie in [0, 1].");
        }
    }

    protected override void Launch(Tensor input, Tensor target, Tensor output) => Ops.BceWithLogitsLoss(input, target, output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput) => Ops.BceWithLogitsLossBackward(input, target, gradInput, Reduction);
}

/// <summary>
/// torch.nn.CrossEntropyLoss over class indices: log_softmax of the logits (batch, classes), then the
/// negative log-likelihood of each row's class. Targets are one column of integers in [0, classes).
/// </summary>
public sealed class CrossEntropyLoss(Reduction reduction = Reduction.Mean) : Loss(reduction)
{
    public override string Name => "ce";

    public override bool ReportsAccuracy(int outputs) => true;

    public override void ValidateTargets(ReadOnlySpan<float> targets, int targetColumns, int modelOutputs)
    {
        if (targetColumns != 1)
            throw new ArgumentException($"CrossEntropyLoss: expected one target column of class indices, got {targetColumns}.");
        for (int i = 0; i < targets.Length; i++)
        {
            float t = targets[i];
            if (!(t >= 0 && t < modelOutputs) || t != MathF.Floor(t))
                throw new ArgumentException($"CrossEntropyLoss: target {i} is {t}; class indices must be integers in [0, {modelOutputs}).");
        }
    }

    private readonly ReshapedView labels = new();

    protected override Tensor PrepareTarget(Tensor input, Tensor target) =>
        target.Rank == 2 && target.Shape[1] == 1 ? labels.Of(target, static t => [t.Shape[0]]) : target;

    protected override int OutputColumns(Tensor input) => 1;

    protected override int[] NoneShape(Tensor input) => [input.Shape.Rows];

    protected override void Launch(Tensor input, Tensor target, Tensor output) => Ops.CrossEntropyLoss(input, target, output, Reduction);

    protected override void LaunchBackward(Tensor input, Tensor target, Tensor gradInput) => Ops.CrossEntropyLossBackward(input, target, gradInput, Reduction);
}
