using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A language model's samples: window i of a <see cref="TokenStream"/> holds tokens [i T, i T + T)
/// as its features (the ids, as floats) and tokens [i T + 1, i T + T + 1) as its targets, for every
/// window that fits (the rest of the stream is dropped). Rows are cut from the stream a batch at a
/// time, so the data stays in memory at its own size. A set is a range of windows:
/// <see cref="SplitTail"/> holds out the last ones for validation (the tail, not a random draw).
/// </summary>
public sealed class TokenWindows : TrainingSet
{
    private readonly long first;
    private readonly int count;

    /// <summary>All the windows of <paramref name="tokens"/> for sequences of <paramref name="context"/> tokens.</summary>
    public TokenWindows(TokenStream tokens, int context)
        : this(tokens, context, 0, Windows(tokens, context))
    {
    }

    private TokenWindows(TokenStream tokens, int context, long first, int count)
    {
        Tokens = tokens;
        Context = context;
        this.first = first;
        this.count = count;
    }

    /// <summary>The stream the windows are cut from.</summary>
    public TokenStream Tokens { get; }

    /// <summary>T: tokens per window.</summary>
    public int Context { get; }

    public override int Count => count;

    public override int FeatureCount => Context;

    public override int TargetCount => Context;

    /// <summary>Tokens the windows hold (T each).</summary>
    public long TokenCount => (long)count * Context;

    internal override bool CanLiveOnDevice => false;

    /// <summary>The first windows for training and the last round(fraction x windows) for validation.</summary>
    public (TokenWindows Train, TokenWindows Validation) SplitTail(double fraction)
    {
        if (!(fraction > 0 && fraction < 1))
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The validation fraction must lie strictly between 0 and 1.");
        int validation = (int)Math.Round(count * fraction);
        if (validation < 1 || validation >= count)
            throw new ArgumentException($"A validation fraction of {fraction} of {count} windows leaves an empty training or validation set.", nameof(fraction));
        return (new TokenWindows(Tokens, Context, first, count - validation), new TokenWindows(Tokens, Context, first + count - validation, validation));
    }

    internal override void CopyRows(int offset, int count, int[]? permutation, Span<float> features, Span<float> targets)
    {
        for (int r = 0; r < count; r++)
        {
            int row = permutation is null ? offset + r : permutation[offset + r];
            Tokens.CopyWindow(first + row, Context, features.Slice(r * Context, Context), targets.Slice(r * Context, Context));
        }
    }

    // The targets are next tokens: a loss over class indices with at least the vocabulary's classes, one per position.
    internal override void CheckTargets(Loss loss, TensorShape outputShape)
    {
        if (!loss.Kind.ClassIndices)
            throw new ArgumentException($"Token data trains a language model: use a loss over class indices (cross-entropy), not {loss.Name}.");
        int classes = outputShape[outputShape.Rank - 1], positions = loss.PredictionsPerSample(outputShape);
        if (positions != Context)
            throw new ArgumentException($"The model gives {positions} predictions a sample but the windows hold {Context} next tokens: end it with per-position logits (N, {Context}, vocabulary).");
        if (Tokens.LargestId >= classes)
            throw new ArgumentException($"Token id {Tokens.LargestId} is not below the model's {classes} classes: the last layer needs at least {Tokens.LargestId + 1} outputs.");
    }

    private static int Windows(TokenStream tokens, int context)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(context, 1);
        long windows = tokens.Windows(context);
        if (windows < 1)
            throw new ArgumentException($"{tokens.Count} tokens hold no window of {context} tokens and their next ones (a window needs {context + 1} tokens).");
        if (windows > int.MaxValue)
            throw new ArgumentException($"{windows} windows are more than one set can count ({int.MaxValue}): use a longer context.");
        return (int)windows;
    }
}
