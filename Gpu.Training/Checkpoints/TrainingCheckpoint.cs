using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>A training run restored from a checkpoint, ready to continue at <see cref="Epoch"/>.</summary>
/// <param name="Model">The model with the checkpoint's weights.</param>
/// <param name="Optimizer">The optimizer with its state, step count and options.</param>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="Info">What the model file part holds (loss, columns, standardisation, extra strings).</param>
/// <param name="EarlyStopping">The early-stopping record at the checkpoint, so a resumed run stops where the straight one would.</param>
public sealed record ResumedTraining(Sequential Model, Optimizer Optimizer, int Epoch, ModelInfo Info, EarlyStoppingState EarlyStopping) : IDisposable
{
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// A model file plus the optimizer's flat state (<c>optimizer.exp_avg</c>, ...), its step count and
/// options, the number of epochs completed and the early-stopping record, so that training resumes
/// exactly where it stopped. PyTorch can still load the model part (<c>load_state_dict(..., strict=False)</c>).
/// </summary>
public static class TrainingCheckpoint
{
    public const string OptimizerPrefix = "optimizer.";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Save(string path, Sequential model, Optimizer optimizer, int epochsCompleted, ModelInfo info, EarlyStoppingState? earlyStopping = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epochsCompleted);
        var metadata = ModelFile.Metadata(model, info);
        metadata["checkpoint_epoch"] = epochsCompleted.ToString(CultureInfo.InvariantCulture);
        metadata["optimizer"] = optimizer.Name;
        metadata["optimizer_options"] = JsonSerializer.Serialize(optimizer.Options, optimizer.Options.GetType());
        metadata["optimizer_step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
        metadata["early_stopping"] = JsonSerializer.Serialize(earlyStopping ?? EarlyStoppingState.Initial, Json);
        var tensors = ModelFile.Tensors(model)
            .Concat(optimizer.State.Select(s => new NamedTensor(OptimizerPrefix + s.Name, [s.Tensor.Length], s.Tensor.ToArray())));
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Rebuilds the model and optimizer of a checkpoint on a device, rejecting missing or malformed optimizer state.</summary>
    public static ResumedTraining Load(string path, Device device)
    {
        var header = SafeTensors.ReadHeader(path);
        var m = header.Metadata;
        if (!m.TryGetValue("checkpoint_epoch", out var epochText) || !m.TryGetValue("optimizer", out var name)
            || !m.TryGetValue("optimizer_options", out var optionsJson) || !m.TryGetValue("optimizer_step", out var stepText))
            throw new SafeTensorsFormatException(path, "it is not a training checkpoint (no optimizer state in __metadata__); use it with --init instead.");
        if (!int.TryParse(epochText, NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
            throw new SafeTensorsFormatException(path, $"its checkpoint_epoch '{epochText}' is not a whole number of epochs >= 0.");
        if (!long.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out long step))
            throw new SafeTensorsFormatException(path, $"its optimizer_step '{stepText}' is not a whole number of steps >= 0.");
        var earlyStopping = ReadEarlyStopping(path, m);

        var (model, info) = ModelFile.Rebuild(header, device);
        Optimizer? optimizer = null;
        try
        {
            optimizer = CreateOptimizer(path, name, optionsJson, model.Parameters());
            var stateNames = optimizer.State.Select(s => OptimizerPrefix + s.Name).ToHashSet();
            var saved = SafeTensors.ReadTensors(header, stateNames.Contains);
            foreach (var (stateName, tensor) in optimizer.State)
            {
                if (!saved.TryGetValue(OptimizerPrefix + stateName, out var values) || values.Data.Length != tensor.Length)
                    throw new SafeTensorsFormatException(path, $"optimizer state '{OptimizerPrefix + stateName}' is missing or has the wrong size.");
                ModelFile.RequireFinite(path, values);
                tensor.CopyFrom(values.Data);
            }

            optimizer.RestoreStepCount(step);
            return new ResumedTraining(model, optimizer, epoch, info, earlyStopping);
        }
        catch
        {
            optimizer?.Dispose();
            model.Dispose();
            throw;
        }
    }

    /// <summary>The optimizer a checkpoint names, with its saved options (all of them present and valid).</summary>
    private static Optimizer CreateOptimizer(string path, string name, string optionsJson, ParameterCollection parameters)
    {
        try
        {
            return name switch
            {
                "adam" => new Adam(parameters, Options<AdamOptions>(optionsJson)),
                "adamw" => new AdamW(parameters, Options<AdamWOptions>(optionsJson)),
                "sgd" => new SGD(parameters, Options<SGDOptions>(optionsJson)),
                _ => throw new SafeTensorsFormatException(path, $"it names an unknown optimizer '{name}' (known: adam, adamw, sgd)."),
            };
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new SafeTensorsFormatException(path, $"its optimizer_options for {name} are malformed: {e.Message}");
        }
    }

    // The saved options, every field present: a missing lr must not silently become the default.
    private static T Options<T>(string json)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new JsonException($"expected an object of options, got {document.RootElement.ValueKind}");
        var fields = typeof(T).GetConstructors()[0].GetParameters().Select(p => p.Name!).ToList();
        var missing = fields.Where(f => !document.RootElement.EnumerateObject().Any(p => string.Equals(p.Name, f, StringComparison.OrdinalIgnoreCase))).ToList();
        if (missing.Count > 0)
            throw new JsonException($"missing {string.Join(", ", missing)}");
        return document.RootElement.Deserialize<T>() ?? throw new JsonException("null options");
    }

    private static EarlyStoppingState ReadEarlyStopping(string path, IReadOnlyDictionary<string, string> m)
    {
        // Checkpoints from before early-stopping state was saved resume without it (no patience record).
        if (!m.TryGetValue("early_stopping", out var text))
            return EarlyStoppingState.Initial;
        try
        {
            var state = JsonSerializer.Deserialize<EarlyStoppingState>(text, Json) ?? throw new JsonException("null");
            if (state.SinceBest < 0 || (state.BestEpoch is < 0))
                throw new JsonException("negative counts");
            return state;
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, $"its early_stopping record is malformed: {e.Message}");
        }
    }
}
