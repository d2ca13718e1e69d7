using System.Globalization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// What a model file trained on tokens keeps for `generate`: how text becomes tokens ("bytes" for
/// --text, "uint16" for llm.c files), the context (how many tokens the model sees) and the
/// vocabulary (the range of ids), in its metadata.
/// </summary>
internal sealed record TokenModel(string Kind, int Context, int Vocabulary)
{
    public const string DataKey = "token_data";
    public const string ContextKey = "context";
    public const string VocabularyKey = "vocabulary";

    /// <summary>The token settings of a saved model, or null when it was not trained on tokens.</summary>
    public static TokenModel? Of(ModelInfo info)
    {
        if (info.Extra is not { } extra || !extra.TryGetValue(DataKey, out var kind))
            return null;
        return int.TryParse(extra.GetValueOrDefault(ContextKey), NumberStyles.None, CultureInfo.InvariantCulture, out int context) && context >= 1
            && int.TryParse(extra.GetValueOrDefault(VocabularyKey), NumberStyles.None, CultureInfo.InvariantCulture, out int vocabulary) && vocabulary >= 1
            ? new TokenModel(kind, context, vocabulary)
            : throw new UsageException($"the model's {ContextKey} or {VocabularyKey} metadata is malformed.");
    }
}
