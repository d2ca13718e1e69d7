using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The data of a `train` run: the training and validation sets, the names a model file keeps (the
/// feature and target columns, or the positions of token windows), and for token data the windows,
/// which fix the model's input (T ids) and its output (T positions of vocabulary logits).
/// </summary>
internal sealed record RunData(TrainingSet Train, TrainingSet? Validation, IReadOnlyList<string> FeatureNames, IReadOnlyList<string> TargetNames, TokenWindows? Tokens)
{
    /// <summary>Tabular data (from --data, or the reference example's).</summary>
    public static RunData Of(Dataset train, Dataset? validation) => new(train, validation, train.FeatureNames, train.TargetNames, null);

    /// <summary>Token windows: T input positions named t0..t{T-1}, their next tokens next0..</summary>
    public static RunData Of(TokenWindows train, TokenWindows? validation) =>
        new(train, validation, [.. Enumerable.Range(0, train.Context).Select(i => $"t{i}")], [.. Enumerable.Range(0, train.Context).Select(i => $"next{i}")], train);

    /// <summary>The token data's vocabulary (of the training and validation tokens), or null for tabular data.</summary>
    public int? Vocabulary => Tokens is null ? null : LargestId is { } id && Tokens.Tokens.Kind == TokenStream.Uint16Kind ? id + 1 : Tokens.Tokens.Vocabulary;

    /// <summary>The largest token id of the training and validation tokens, or null for tabular data.</summary>
    public int? LargestId => Tokens is null ? null : Math.Max(Tokens.Tokens.LargestId, (Validation as TokenWindows)?.Tokens.LargestId ?? 0);

    /// <summary>The training set as a table (null for token data), for standardisation and class counts.</summary>
    public Dataset? Table => Train as Dataset;
}
