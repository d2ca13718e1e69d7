using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>A training run restored from a checkpoint, ready to continue at <see cref="Epoch"/>.</summary>
/// <param name="Model">The model with the checkpoint's weights.</param>
/// <param name="Optimizer">The optimizer with its state, step count and options.</param>
/// <param name="Info">What the model file part holds (loss, columns, standardisation, extra strings).</param>
/// <param name="State">The trainer's state: epochs done, early stopping, schedule, and the options that shape the steps.</param>
public sealed record ResumedTraining(Sequential Model, Optimizer Optimizer, ModelInfo Info, TrainingState State) : IDisposable
{
    /// <summary>Epochs completed.</summary>
    public int Epoch => State.EpochsCompleted;

    /// <summary>The early-stopping record at the checkpoint, so a resumed run stops where the straight one would.</summary>
    public EarlyStoppingState EarlyStopping => State.EarlyStopping;

    /// <summary>The schedule at the checkpoint, its state loaded, or null when the run had none.</summary>
    public LrSchedule? Schedule()
    {
        if (State.Schedule is null)
            return null;
        var schedule = LrSchedule.Parse(State.Schedule);
        if (State.ScheduleState is not null)
            schedule.LoadState(State.ScheduleState);
        return schedule;
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// A model file plus the optimizer's flat state (<c>optimizer.exp_avg</c>, ...), its step count and
/// options, and the trainer's state (<see cref="TrainingState"/>: epochs done, early stopping, the
/// schedule's state, accumulation, clipping, penalties), so that training resumes exactly where it
/// stopped. PyTorch can still load the model part (<c>load_state_dict(..., strict=False)</c>).
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
    public static void Save(string path, Sequential model, Optimizer optimizer, TrainingState state, ModelInfo info)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentOutOfRangeException.ThrowIfNegative(state.EpochsCompleted);
        var metadata = ModelFile.Metadata(model, info);
        metadata["checkpoint_epoch"] = state.EpochsCompleted.ToString(CultureInfo.InvariantCulture);
        metadata["optimizer"] = optimizer.Name;
        metadata["optimizer_options"] = JsonSerializer.Serialize(optimizer.Options, optimizer.Options.GetType());
        metadata["optimizer_step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
        metadata["training_state"] = JsonSerializer.Serialize(state, Json);
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
        var state = ReadState(path, m, epoch, optionsJson);

        var (model, info) = ModelFile.Rebuild(header, device);
        Optimizer? optimizer = null;
        try
        {
            optimizer = CreateOptimizer(path, name, optionsJson, model.Parameters());
            var saved = SafeTensors.ReadTensors(header, key => key.StartsWith(OptimizerPrefix, StringComparison.Ordinal));
            foreach (var (stateName, _) in optimizer.State)
            {
                if (!saved.ContainsKey(OptimizerPrefix + stateName))
                    throw new SafeTensorsFormatException(path, $"optimizer state '{OptimizerPrefix + stateName}' is missing.");
            }

            foreach (var (key, values) in saved)
            {
                ModelFile.RequireFinite(path, values);
                try
                {
                    optimizer.RestoreState(key[OptimizerPrefix.Length..], values.Data);
                }
                catch (ArgumentException e)
                {
                    throw new SafeTensorsFormatException(path, $"optimizer state '{key}' does not fit {name}: {e.Message}");
                }
            }

            optimizer.RestoreStepCount(step);
            return new ResumedTraining(model, optimizer, info, state);
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
        var entry = Registry<OptimizerEntry>.Find(name)
            ?? throw new SafeTensorsFormatException(path, $"it names an unknown optimizer '{name}' (known: {string.Join(", ", Registry<OptimizerEntry>.Names)}).");
        try
        {
            return entry.Create(parameters, OptionsJson.Read(optionsJson, entry.OptionsType));
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new SafeTensorsFormatException(path, $"its optimizer_options for {name} are malformed: {e.Message}");
        }
    }

    private static TrainingState ReadState(string path, IReadOnlyDictionary<string, string> m, int epoch, string optionsJson)
    {
        try
        {
            if (m.TryGetValue("training_state", out var text))
            {
                var state = JsonSerializer.Deserialize<TrainingState>(text, Json) ?? throw new JsonException("null");
                if (state.EpochsCompleted != epoch)
                    throw new JsonException($"it records {state.EpochsCompleted} epochs but checkpoint_epoch says {epoch}");
                if (state.EarlyStopping is null || state.EarlyStopping.SinceBest < 0 || state.EarlyStopping.BestEpoch is < 0 || state.Accumulate < 1)
                    throw new JsonException("negative counts or a missing early-stopping record");
                return state;
            }

            // Checkpoints from before the trainer's state was saved: the early-stopping record (when
            // present) and the L1/L2 penalties their optimizer options held.
            var early = m.TryGetValue("early_stopping", out var earlyText)
                ? JsonSerializer.Deserialize<EarlyStoppingState>(earlyText, Json) ?? throw new JsonException("null early-stopping record")
                : EarlyStoppingState.Initial;
            using var options = JsonDocument.Parse(optionsJson);
            double Penalty(string field) => options.RootElement.ValueKind == JsonValueKind.Object && options.RootElement.TryGetProperty(field, out var v) ? v.GetDouble() : 0;
            return new TrainingState(epoch, early, L1: Penalty("L1"), L2: Penalty("L2"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new SafeTensorsFormatException(path, $"its training state is malformed: {e.Message}");
        }
    }
}

/// <summary>Options records read back from JSON with every field present: a missing lr must not silently become the default.</summary>
internal static class OptionsJson
{
    public static object Read(string json, Type type)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new JsonException($"expected an object of options, got {document.RootElement.ValueKind}");
        var fields = type.GetConstructors()[0].GetParameters().Select(p => p.Name!).ToList();
        var missing = fields.Where(f => !document.RootElement.EnumerateObject().Any(p => string.Equals(p.Name, f, StringComparison.OrdinalIgnoreCase))).ToList();
        if (missing.Count > 0)
            throw new JsonException($"missing {string.Join(", ", missing)}");
        return document.RootElement.Deserialize(type) ?? throw new JsonException("null options");
    }
}
