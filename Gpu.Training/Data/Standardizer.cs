namespace Gpu.Training;

/// <summary>
/// Per-feature standardisation <c>(x - mean) / std</c>, fitted on the training set (population
/// standard deviation; a constant feature gets std 1 so it maps to 0). Saved with the model so that
/// prediction applies the same transform.
/// </summary>
public sealed class Standardizer
{
    public Standardizer(float[] mean, float[] std)
    {
        if (mean.Length != std.Length)
            throw new ArgumentException("Standardizer: mean and std differ in length.");
        if (std.Any(s => !(s > 0) || !float.IsFinite(s)) || mean.Any(m => !float.IsFinite(m)))
            throw new ArgumentException("Standardizer: means must be finite and standard deviations finite and positive.");
        Mean = mean;
        Std = std;
    }

    public float[] Mean { get; }

    public float[] Std { get; }

    /// <summary>The features' standardisation, fitted on <paramref name="data"/>.</summary>
    public static Standardizer Fit(Dataset data) => Fit(data.FeatureRows, data.FeatureCount, data.Count);

    /// <summary>The targets' standardisation (regression, --standardize-target), fitted on <paramref name="data"/>.</summary>
    public static Standardizer FitTargets(Dataset data) => Fit(data.TargetRows, data.TargetCount, data.Count);

    private static Standardizer Fit(ReadOnlySpan<float> values, int f, int count)
    {
        var mean = new double[f];
        var sq = new double[f];
        for (int r = 0; r < count; r++)
        {
            for (int j = 0; j < f; j++)
                mean[j] += values[r * f + j];
        }

        for (int j = 0; j < f; j++)
            mean[j] /= Math.Max(count, 1);
        for (int r = 0; r < count; r++)
        {
            for (int j = 0; j < f; j++)
            {
                double d = values[r * f + j] - mean[j];
                sq[j] += d * d;
            }
        }

        var std = sq.Select(s => Math.Sqrt(s / Math.Max(count, 1))).Select(s => s > 1e-12 ? (float)s : 1f).ToArray();
        return new Standardizer([.. mean.Select(m => (float)m)], std);
    }

    /// <summary>Standardises a dataset's targets where they lie: <c>(y - mean) / std</c> per target column.</summary>
    public void TransformTargetsInPlace(Dataset data)
    {
        if (data.TargetCount != Mean.Length)
            throw new ArgumentException($"Standardizer: the data has {data.TargetCount} targets, not {Mean.Length}.");
        Apply(data.TargetRows, inverse: false);
    }

    /// <summary>Maps standardised outputs back to the targets' units where they lie: <c>y * std + mean</c> per column.</summary>
    public void InverseInPlace(Span<float> rows) => Apply(rows, inverse: true);

    private void Apply(Span<float> values, bool inverse)
    {
        int f = Mean.Length;
        if (values.Length % f != 0)
            throw new ArgumentException($"Standardizer: {values.Length} values are not whole rows of {f} columns.");
        for (int i = 0; i < values.Length; i++)
            values[i] = inverse ? values[i] * Std[i % f] + Mean[i % f] : (values[i] - Mean[i % f]) / Std[i % f];
    }

    /// <summary>Standardised copy of row-major features with <see cref="Mean"/>.Length columns.</summary>
    public float[] Transform(ReadOnlySpan<float> features)
    {
        int f = Mean.Length;
        if (features.Length % f != 0)
            throw new ArgumentException($"Standardizer: {features.Length} values are not whole rows of {f} features.");
        var result = new float[features.Length];
        for (int i = 0; i < features.Length; i++)
            result[i] = (features[i] - Mean[i % f]) / Std[i % f];
        return result;
    }

    public Dataset Transform(Dataset data) =>
        new(Transform(data.FeatureRows), data.Targets, data.Count, data.FeatureNames, data.TargetNames);

    /// <summary>Standardises a dataset's features where they lie (no copy, for data too large to duplicate).</summary>
    public void TransformInPlace(Dataset data)
    {
        int f = Mean.Length;
        if (data.FeatureCount != f)
            throw new ArgumentException($"Standardizer: the data has {data.FeatureCount} features, not {f}.");
        var values = data.FeatureRows;
        for (int i = 0; i < values.Length; i += f)
        {
            var row = values.Slice(i, f);
            for (int j = 0; j < f; j++)
                row[j] = (row[j] - Mean[j]) / Std[j];
        }
    }
}
