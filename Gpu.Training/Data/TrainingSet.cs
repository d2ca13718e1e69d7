using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// What a trainer reads: <see cref="Count"/> samples of <see cref="FeatureCount"/> values and
/// <see cref="TargetCount"/> targets each, handed out a batch of rows at a time. A
/// <see cref="Dataset"/> holds its rows as floats; <see cref="TokenWindows"/> cuts them from a token
/// stream as they are needed, so token data is never materialised as float rows.
/// </summary>
public abstract class TrainingSet
{
    private protected TrainingSet()
    {
    }

    /// <summary>Samples (rows).</summary>
    public abstract int Count { get; }

    /// <summary>Values per sample (the model's input, flattened).</summary>
    public abstract int FeatureCount { get; }

    /// <summary>Targets per sample.</summary>
    public abstract int TargetCount { get; }

    /// <summary>False when the set is only cut into batches on the host (token windows): it is never copied to a device whole.</summary>
    internal virtual bool CanLiveOnDevice => true;

    /// <summary>Bytes the set takes on a device when copied there whole (features and targets as floats).</summary>
    internal long DeviceBytes => 4L * Count * (FeatureCount + TargetCount);

    /// <summary>
    /// Writes rows <c>[offset, offset + count)</c> (of <paramref name="permutation"/>, or of the set's
    /// own order when it is null) into <paramref name="features"/> and <paramref name="targets"/>.
    /// </summary>
    internal abstract void CopyRows(int offset, int count, int[]? permutation, Span<float> features, Span<float> targets);

    /// <summary>Checks the targets against the loss and the model's output shape, naming the first bad one.</summary>
    internal abstract void CheckTargets(Loss loss, TensorShape outputShape);
}
