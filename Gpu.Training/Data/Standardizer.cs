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

    public static Standardizer Fit(Dataset data)
    {
        int f = data.FeatureCount;
        var mean = new double[f];
        var sq = new double[f];
        var features = data.FeatureRows;
        for (int r = 0; r < data.Count; r++)
        {
            for (int j = 0; j < f; j++)
                mean[j] += features[r * f + j];
        }

        for (int j = 0; j < f; j++)
            mean[j] /= Math.Max(data.Count, 1);
        for (int r = 0; r < data.Count; r++)
        {
            for (int j = 0; j < f; j++)
            {
                double d = features[r * f + j] - mean[j];
                sq[j] += d * d;
            }
        }

        var std = sq.Select(s => Math.Sqrt(s / Math.Max(data.Count, 1))).Select(s => s > 1e-12 ? (float)s : 1f).ToArray();
        return new Standardizer([.. mean.Select(m => (float)m)], std);
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
