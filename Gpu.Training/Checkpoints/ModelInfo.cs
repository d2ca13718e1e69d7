namespace Gpu.Training;

/// <summary>
/// What a saved model needs besides its weights to be rebuilt and used from the file alone: its
/// loss, column names and the feature standardisation, plus free-form training information.
/// </summary>
/// <param name="Loss">Short loss name (mse, bce, ce).</param>
/// <param name="FeatureNames">Input columns, in the model's order.</param>
/// <param name="TargetNames">Target columns.</param>
/// <param name="Standardizer">Feature standardisation applied before the model, or null.</param>
/// <param name="Extra">Other strings to keep in <c>__metadata__</c> (device, epochs, final loss, ...).</param>
/// <param name="TargetStandardizer">For a regression trained on standardised targets, their standardisation: outputs map back by <c>y * std + mean</c>; else null.</param>
public sealed record ModelInfo(
    string Loss, IReadOnlyList<string> FeatureNames, IReadOnlyList<string> TargetNames, Standardizer? Standardizer = null,
    IReadOnlyDictionary<string, string>? Extra = null, Standardizer? TargetStandardizer = null);

/// <summary>A model rebuilt from a file, with what was saved alongside it.</summary>
public sealed record SavedModel(Sequential Model, ModelInfo Info) : IDisposable
{
    public void Dispose() => Model.Dispose();
}
