namespace Gpu.Training;

/// <summary>
/// Rows of float features and targets on the host, row-major: the first <see cref="Count"/> rows of
/// <see cref="Features"/> (Count x <see cref="FeatureCount"/>) and <see cref="Targets"/> (Count x
/// <see cref="TargetCount"/>). The arrays may be longer than that (a training part that shares its
/// arrays with the rows after it, <see cref="SplitInPlace"/>); <see cref="FeatureRows"/> and
/// <see cref="TargetRows"/> are exactly the rows.
/// </summary>
public sealed class Dataset : TrainingSet
{
    public Dataset(float[] features, float[] targets, int count, IReadOnlyList<string> featureNames, IReadOnlyList<string> targetNames)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (features.Length < (long)count * featureNames.Count)
            throw new ArgumentException($"Dataset: {features.Length} feature values are fewer than {count} rows of {featureNames.Count} features.", nameof(features));
        if (targets.Length < (long)count * targetNames.Count)
            throw new ArgumentException($"Dataset: {targets.Length} target values are fewer than {count} rows of {targetNames.Count} targets.", nameof(targets));
        Features = features;
        Targets = targets;
        Count = count;
        FeatureNames = featureNames;
        TargetNames = targetNames;
    }

    public float[] Features { get; }

    public float[] Targets { get; }

    /// <summary>The features of the <see cref="Count"/> rows.</summary>
    public Span<float> FeatureRows => Features.AsSpan(0, Count * FeatureCount);

    /// <summary>The targets of the <see cref="Count"/> rows.</summary>
    public Span<float> TargetRows => Targets.AsSpan(0, Count * TargetCount);

    public override int Count { get; }

    public IReadOnlyList<string> FeatureNames { get; }

    public IReadOnlyList<string> TargetNames { get; }

    public override int FeatureCount => FeatureNames.Count;

    public override int TargetCount => TargetNames.Count;

    internal override void CopyRows(int offset, int count, int[]? permutation, Span<float> features, Span<float> targets)
    {
        int f = FeatureCount, t = TargetCount;
        if (permutation is null)
        {
            Features.AsSpan(offset * f, count * f).CopyTo(features);
            Targets.AsSpan(offset * t, count * t).CopyTo(targets);
            return;
        }

        for (int r = 0; r < count; r++)
        {
            int row = permutation[offset + r];
            Features.AsSpan(row * f, f).CopyTo(features.Slice(r * f, f));
            Targets.AsSpan(row * t, t).CopyTo(targets.Slice(r * t, t));
        }
    }

    internal override void CheckTargets(Loss loss, Runtime.TensorShape outputShape) => loss.ValidateTargets(TargetRows, TargetCount, outputShape);

    /// <summary>
    /// Standard-normal features and targets from a seeded generator: the data of the reference
    /// PyTorch example (<c>torch.randn(rows, features)</c>, <c>torch.randn(rows, targets)</c>).
    /// </summary>
    public static Dataset Synthetic(int rows, int features, int targets, int seed)
    {
        var random = new Random(seed);
        var x = new float[rows * features];
        var y = new float[rows * targets];
        for (int i = 0; i < x.Length; i++)
            x[i] = Normal(random);
        for (int i = 0; i < y.Length; i++)
            y[i] = Normal(random);
        return new Dataset(x, y, rows, Names("x", features), Names("y", targets));
    }

    /// <summary>The given rows, in the given order.</summary>
    public Dataset Select(IReadOnlyList<int> rows)
    {
        var x = new float[rows.Count * FeatureCount];
        var y = new float[rows.Count * TargetCount];
        for (int r = 0; r < rows.Count; r++)
        {
            Array.Copy(Features, rows[r] * FeatureCount, x, r * FeatureCount, FeatureCount);
            Array.Copy(Targets, rows[r] * TargetCount, y, r * TargetCount, TargetCount);
        }

        return new Dataset(x, y, rows.Count, FeatureNames, TargetNames);
    }

    /// <summary>
    /// A seeded random split: the last <paramref name="validationFraction"/> of a shuffled order is
    /// held out for validation. Both parts are copies; <see cref="SplitInPlace"/> gives the same
    /// parts without copying the training rows.
    /// </summary>
    public (Dataset Train, Dataset Validation) Split(double validationFraction, int seed)
    {
        var order = SplitOrder(validationFraction, seed, out int validation);
        return (Select(order[..^validation]), Select(order[^validation..]));
    }

    /// <summary>
    /// The split of <see cref="Split"/>, for data too large to copy: this dataset's rows are
    /// reordered in place (so this dataset must not be used afterwards), the training part shares
    /// its arrays and the validation part is a copy of its rows only.
    /// </summary>
    public (Dataset Train, Dataset Validation) SplitInPlace(double validationFraction, int seed)
    {
        var order = SplitOrder(validationFraction, seed, out int validation);
        Reorder(Features, FeatureCount, order);
        Reorder(Targets, TargetCount, order);
        int train = Count - validation;
        var validationPart = new Dataset(
            Features.AsSpan(train * FeatureCount, validation * FeatureCount).ToArray(), Targets.AsSpan(train * TargetCount, validation * TargetCount).ToArray(),
            validation, FeatureNames, TargetNames);
        return (new Dataset(Features, Targets, train, FeatureNames, TargetNames), validationPart);
    }

    private int[] SplitOrder(double validationFraction, int seed, out int validation)
    {
        if (!(validationFraction > 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must lie strictly between 0 and 1.");
        validation = (int)Math.Round(Count * validationFraction);
        if (validation < 1 || validation >= Count)
            throw new ArgumentException($"A validation fraction of {validationFraction} of {Count} rows leaves an empty training or validation set.", nameof(validationFraction));
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    // Row i becomes old row order[i], by following the permutation's cycles with one row of scratch.
    private void Reorder(float[] values, int width, int[] order)
    {
        if (width == 0)
            return;
        var done = new bool[Count];
        var saved = new float[width];
        for (int start = 0; start < Count; start++)
        {
            if (done[start])
                continue;
            values.AsSpan(start * width, width).CopyTo(saved);
            int i = start;
            while (true)
            {
                done[i] = true;
                int from = order[i];
                if (from == start)
                {
                    saved.CopyTo(values.AsSpan(i * width, width));
                    break;
                }

                values.AsSpan(from * width, width).CopyTo(values.AsSpan(i * width, width));
                i = from;
            }
        }
    }

    private static float Normal(Random random)
    {
        // Box-Muller; 1 - U avoids log(0).
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    private static string[] Names(string prefix, int count) => [.. Enumerable.Range(0, count).Select(i => $"{prefix}{i}")];
}
