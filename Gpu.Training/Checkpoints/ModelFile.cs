using System.Text.Json;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// Saves and loads models as safetensors that PyTorch can read: tensors named as an
/// <c>nn.Sequential</c>'s state_dict names them (<c>0.weight</c> (out, in), <c>0.bias</c>, ...), F32,
/// plus <c>__metadata__</c> holding the architecture (one record per layer, <see cref="LayerSpec"/>),
/// the input shape, the loss, column names and standardisation, so that <see cref="Load"/> rebuilds
/// the model from the file alone.
/// <para>
/// Loading reads the header first and checks the architecture against the tensors it lists (names,
/// shapes, so byte counts) before it reads data or allocates anything, and rejects weights that are
/// not finite, naming the tensor: a hostile or damaged file costs little and never becomes a model.
/// </para>
/// </summary>
public static class ModelFile
{
    public const string FormatTag = "gpu-training/model-1";

    /// <summary>Writes the model atomically (a crash never leaves a half-written file).</summary>
    public static void Save(string path, Sequential model, ModelInfo info) =>
        SafeTensors.Write(path, Tensors(model), Metadata(model, info));

    /// <summary>Rebuilds a model saved by <see cref="Save"/> (or a training checkpoint) on a device.</summary>
    public static SavedModel Load(string path, Device device)
    {
        var header = SafeTensors.ReadHeader(path);
        var (model, info) = Rebuild(header, device);
        return new SavedModel(model, info);
    }

    /// <summary>
    /// Copies weights from a safetensors file (ours or PyTorch's) into a model; names and shapes must
    /// match exactly and values be finite; tensors under <c>optimizer.</c> (training checkpoints) are ignored.
    /// </summary>
    public static void LoadWeights(string path, Sequential model)
    {
        var header = SafeTensors.ReadHeader(path);
        Check(header, model);
        Copy(ReadWeights(header), model);
    }

    internal static IEnumerable<NamedTensor> Tensors(Sequential model) =>
        model.Parameters().Select(p => new NamedTensor(p.Name, p.Shape.ToArray(), p.Data.ToArray()));

    internal static Dictionary<string, string> Metadata(Sequential model, ModelInfo info)
    {
        var metadata = new Dictionary<string, string>();
        foreach (var (key, value) in info.Extra ?? new Dictionary<string, string>())
            metadata[key] = value;
        metadata["format"] = FormatTag;
        metadata["architecture"] = LayerSpec.ToJson(model.Specs);
        metadata["input_shape"] = JsonSerializer.Serialize(model.InputShape.ToArray());
        if (model.IsMlp)
            metadata["layers"] = string.Join(",", model.LayerWidths);
        metadata["loss"] = info.Loss;
        metadata["feature_names"] = JsonSerializer.Serialize(info.FeatureNames);
        metadata["target_names"] = JsonSerializer.Serialize(info.TargetNames);
        if (info.Standardizer is { } s)
        {
            metadata["standardize_mean"] = JsonSerializer.Serialize(s.Mean);
            metadata["standardize_std"] = JsonSerializer.Serialize(s.Std);
        }

        if (info.TargetStandardizer is { } t)
        {
            metadata["target_mean"] = JsonSerializer.Serialize(t.Mean);
            metadata["target_std"] = JsonSerializer.Serialize(t.Std);
        }

        return metadata;
    }

    /// <summary>The model a file describes, checked against the file's tensors, then built on the device with its weights.</summary>
    internal static (Sequential Model, ModelInfo Info) Rebuild(SafeTensorsHeader header, Device device)
    {
        var (model, info) = Describe(header);
        try
        {
            Check(header, model);
            var weights = ReadWeights(header);
            model.To(device);
            Copy(weights, model);
            return (model, info);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The model (not yet on a device) and information a file's metadata describes.</summary>
    internal static (Sequential Model, ModelInfo Info) Describe(SafeTensorsHeader header)
    {
        string path = header.Path;
        var m = header.Metadata;
        if (!m.TryGetValue("architecture", out var architecture))
        {
            throw new SafeTensorsFormatException(path, header.Entries.Count == 0
                ? "it holds no tensors and no architecture in __metadata__: it is not a model."
                : $"it holds {header.Entries.Count} tensors but no architecture in __metadata__, so the model cannot be rebuilt from it (was it saved by this tool? Weights alone can be loaded with --init).");
        }

        List<LayerSpec> specs;
        TensorShape? inputShape = null;
        IReadOnlyList<string> features, targets;
        Standardizer? standardizer = null, targetStandardizer = null;
        try
        {
            specs = LayerSpec.FromJson(architecture);
            if (m.TryGetValue("input_shape", out var shape))
                inputShape = new TensorShape(JsonSerializer.Deserialize<int[]>(shape) ?? throw new JsonException("empty input_shape"));
            features = Strings(m, "feature_names");
            targets = Strings(m, "target_names");
            if (m.TryGetValue("standardize_mean", out var mean) && m.TryGetValue("standardize_std", out var std))
                standardizer = new Standardizer(JsonSerializer.Deserialize<float[]>(mean)!, JsonSerializer.Deserialize<float[]>(std)!);
            if (m.TryGetValue("target_mean", out var targetMean) && m.TryGetValue("target_std", out var targetStd))
                targetStandardizer = new Standardizer(JsonSerializer.Deserialize<float[]>(targetMean)!, JsonSerializer.Deserialize<float[]>(targetStd)!);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or KeyNotFoundException)
        {
            throw new SafeTensorsFormatException(path, $"its __metadata__ does not describe a model: {e.Message}");
        }

        Sequential model;
        try
        {
            model = Sequential.FromSpecs(specs, inputShape);
        }
        catch (Exception e) when (e is ArgumentException or ShapeMismatchException or OverflowException)
        {
            throw new SafeTensorsFormatException(path, $"its architecture is inconsistent: {e.Message}");
        }

        if (features.Count != model.InputFeatures || (standardizer is not null && standardizer.Mean.Length != features.Count))
        {
            model.Dispose();
            throw new SafeTensorsFormatException(path, $"it names {features.Count} features but the model takes {model.InputFeatures}.");
        }

        if (targetStandardizer is not null && targetStandardizer.Mean.Length != model.OutputFeaturesCount)
        {
            model.Dispose();
            throw new SafeTensorsFormatException(path, $"its target standardisation has {targetStandardizer.Mean.Length} columns but the model gives {model.OutputFeaturesCount} outputs.");
        }

        var extra = m.Where(kv => kv.Key is not ("architecture" or "input_shape" or "feature_names" or "target_names" or "standardize_mean" or "standardize_std" or "target_mean" or "target_std" or "loss"))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        return (model, new ModelInfo(m.GetValueOrDefault("loss", "mse"), features, targets, standardizer, extra, targetStandardizer));
    }

    private static bool IsWeight(string name) => !name.StartsWith(TrainingCheckpoint.OptimizerPrefix, StringComparison.Ordinal);

    // Names and shapes of the file's weights against the model, before any data is read.
    private static void Check(SafeTensorsHeader header, Sequential model)
    {
        try
        {
            model.CheckStateDict(header.Entries.Where(e => IsWeight(e.Name)).ToDictionary(e => e.Name, e => e.Shape));
        }
        catch (Exception e) when (e is ArgumentException or ShapeMismatchException)
        {
            throw new ArgumentException($"{header.Path}: {e.Message}", e);
        }
    }

    private static Dictionary<string, NamedTensor> ReadWeights(SafeTensorsHeader header)
    {
        var weights = SafeTensors.ReadTensors(header, IsWeight);
        foreach (var tensor in weights.Values)
            RequireFinite(header.Path, tensor);
        return weights;
    }

    private static void Copy(Dictionary<string, NamedTensor> weights, Sequential model)
    {
        foreach (var p in model.Parameters())
            p.Data.CopyFrom(weights[p.Name].Data);
    }

    /// <summary>Rejects a tensor holding NaN or an infinity, naming it and the first bad element.</summary>
    internal static void RequireFinite(string path, NamedTensor tensor)
    {
        int bad = Array.FindIndex(tensor.Data, v => !float.IsFinite(v));
        if (bad >= 0)
            throw new SafeTensorsFormatException(path, $"tensor '{tensor.Name}' holds {tensor.Data[bad]} at element {bad}; weights must be finite.");
    }

    private static List<string> Strings(IReadOnlyDictionary<string, string> metadata, string key) =>
        metadata.TryGetValue(key, out var value)
            ? JsonSerializer.Deserialize<List<string>>(value) ?? []
            : throw new KeyNotFoundException($"'{key}' is missing");
}
