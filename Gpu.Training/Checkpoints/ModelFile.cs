using System.Text.Json;

namespace Gpu.Training;

/// <summary>
/// Saves and loads models as safetensors that PyTorch can read: tensors named as an
/// <c>nn.Sequential</c>'s state_dict names them (<c>0.weight</c> (out, in), <c>0.bias</c>, ...), F32,
/// plus <c>__metadata__</c> holding the architecture, loss, column names and standardisation so that
/// <see cref="Load"/> rebuilds the model from the file alone.
/// </summary>
public static class ModelFile
{
    public const string FormatTag = "gpu-training/model-1";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Writes the model atomically (a crash never leaves a half-written file).</summary>
    public static void Save(string path, Sequential model, ModelInfo info) =>
        SafeTensors.Write(path, Tensors(model), Metadata(model, info));

    /// <summary>Rebuilds a model saved by <see cref="Save"/> (or a training checkpoint) on a device.</summary>
    public static SavedModel Load(string path, Gpu.Runtime.Device device)
    {
        var file = SafeTensors.Read(path);
        var (model, info) = Rebuild(path, file, device);
        return new SavedModel(model, info);
    }

    /// <summary>
    /// Copies weights from a safetensors file (ours or PyTorch's) into a model; names and shapes must
    /// match exactly, extra tensors under <c>optimizer.</c> (training checkpoints) are ignored.
    /// </summary>
    public static void LoadWeights(string path, Sequential model)
    {
        var file = SafeTensors.Read(path);
        LoadWeights(path, file, model);
    }

    internal static void LoadWeights(string path, SafeTensorsFile file, Sequential model)
    {
        var state = file.Tensors.Values
            .Where(t => !t.Name.StartsWith(TrainingCheckpoint.OptimizerPrefix, StringComparison.Ordinal))
            .ToDictionary(t => t.Name, t => (t.Shape, t.Data));
        try
        {
            model.LoadStateDict(state);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{path}: {e.Message}", e);
        }
    }

    internal static IEnumerable<NamedTensor> Tensors(Sequential model) =>
        model.Parameters().Select(p => new NamedTensor(p.Name, p.Shape.ToArray(), p.Data.ToArray()));

    internal static Dictionary<string, string> Metadata(Sequential model, ModelInfo info)
    {
        var metadata = new Dictionary<string, string>();
        foreach (var (key, value) in info.Extra ?? new Dictionary<string, string>())
            metadata[key] = value;
        metadata["format"] = FormatTag;
        metadata["architecture"] = JsonSerializer.Serialize(model.Specs, Json);
        metadata["layers"] = string.Join(",", model.LayerWidths);
        metadata["loss"] = info.Loss;
        metadata["feature_names"] = JsonSerializer.Serialize(info.FeatureNames);
        metadata["target_names"] = JsonSerializer.Serialize(info.TargetNames);
        if (info.Standardizer is { } s)
        {
            metadata["standardize_mean"] = JsonSerializer.Serialize(s.Mean);
            metadata["standardize_std"] = JsonSerializer.Serialize(s.Std);
        }

        return metadata;
    }

    internal static (Sequential Model, ModelInfo Info) Rebuild(string path, SafeTensorsFile file, Gpu.Runtime.Device device)
    {
        var m = file.Metadata;
        if (!m.TryGetValue("architecture", out var architecture))
            throw new SafeTensorsFormatException(path, "it holds weights but no architecture in __metadata__, so the model cannot be rebuilt from it (was it saved by this tool?).");
        List<LayerSpec> specs;
        IReadOnlyList<string> features, targets;
        Standardizer? standardizer = null;
        try
        {
            specs = JsonSerializer.Deserialize<List<LayerSpec>>(architecture, Json) ?? throw new JsonException("empty architecture");
            features = Strings(m, "feature_names");
            targets = Strings(m, "target_names");
            if (m.TryGetValue("standardize_mean", out var mean) && m.TryGetValue("standardize_std", out var std))
                standardizer = new Standardizer(JsonSerializer.Deserialize<float[]>(mean)!, JsonSerializer.Deserialize<float[]>(std)!);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or KeyNotFoundException)
        {
            throw new SafeTensorsFormatException(path, $"its __metadata__ does not describe a model: {e.Message}");
        }

        Sequential model;
        try
        {
            model = Sequential.FromSpecs(specs);
        }
        catch (ArgumentException e)
        {
            throw new SafeTensorsFormatException(path, $"its architecture is inconsistent: {e.Message}");
        }

        if (features.Count != model.InputFeatures || (standardizer is not null && standardizer.Mean.Length != features.Count))
            throw new SafeTensorsFormatException(path, $"it names {features.Count} features but the model takes {model.InputFeatures}.");
        model.To(device);
        try
        {
            LoadWeights(path, file, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }

        var extra = m.Where(kv => kv.Key is not ("architecture" or "feature_names" or "target_names" or "standardize_mean" or "standardize_std" or "loss"))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var info = new ModelInfo(m.GetValueOrDefault("loss", "mse"), features, targets, standardizer, extra);
        return (model, info);
    }

    private static List<string> Strings(IReadOnlyDictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var value)
            ? JsonSerializer.Deserialize<List<string>>(value) ?? []
            : throw new KeyNotFoundException($"'{key}' is missing");
}
