using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>A training run restored from a checkpoint, ready to continue at <see cref="Epoch"/>.</summary>
public sealed record ResumedTraining(Sequential Model, Optimizer Optimizer, int Epoch, ModelInfo Info) : IDisposable
{
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// A model file plus the optimizer's flat state (<c>optimizer.exp_avg</c>, ...), its step count and
/// options, and the number of epochs completed, so that training resumes exactly where it stopped.
/// PyTorch can still load the model part (<c>load_state_dict(..., strict=False)</c>).
/// </summary>
public static class TrainingCheckpoint
{
    public const string OptimizerPrefix = "optimizer.";

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Save(string path, Sequential model, Optimizer optimizer, int epochsCompleted, ModelInfo info)
    {
        var metadata = ModelFile.Metadata(model, info);
        metadata["checkpoint_epoch"] = epochsCompleted.ToString(CultureInfo.InvariantCulture);
        metadata["optimizer"] = optimizer.Name;
        metadata["optimizer_options"] = JsonSerializer.Serialize(optimizer.Options, optimizer.Options.GetType());
        metadata["optimizer_step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
        var tensors = ModelFile.Tensors(model)
            .Concat(optimizer.State.Select(s => new NamedTensor(OptimizerPrefix + s.Name, [s.Tensor.Length], s.Tensor.ToArray())));
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Rebuilds the model and optimizer of a checkpoint on a device.</summary>
    public static ResumedTraining Load(string path, Device device)
    {
        var file = SafeTensors.Read(path);
        var m = file.Metadata;
        if (!m.TryGetValue("checkpoint_epoch", out var epochText) || !m.TryGetValue("optimizer", out var name)
            || !m.TryGetValue("optimizer_options", out var optionsJson) || !m.TryGetValue("optimizer_step", out var stepText))
            throw new SafeTensorsFormatException(path, "it is not a training checkpoint (no optimizer state in __metadata__); use it with --init instead.");
        var (model, info) = ModelFile.Rebuild(path, file, device);
        Optimizer? optimizer = null;
        try
        {
            var parameters = model.Parameters();
            optimizer = name switch
            {
                "adam" => new Adam(parameters, JsonSerializer.Deserialize<AdamOptions>(optionsJson)),
                "adamw" => new AdamW(parameters, JsonSerializer.Deserialize<AdamWOptions>(optionsJson)),
                "sgd" => new SGD(parameters, JsonSerializer.Deserialize<SGDOptions>(optionsJson)),
                _ => throw new SafeTensorsFormatException(path, $"unknown optimizer '{name}'."),
            };
            foreach (var (stateName, tensor) in optimizer.State)
            {
                if (!file.Tensors.TryGetValue(OptimizerPrefix + stateName, out var saved) || saved.Data.Length != tensor.Length)
                    throw new SafeTensorsFormatException(path, $"optimizer state '{OptimizerPrefix + stateName}' is missing or has the wrong size.");
                tensor.CopyFrom(saved.Data);
            }

            optimizer.RestoreStepCount(long.Parse(stepText, CultureInfo.InvariantCulture));
            return new ResumedTraining(model, optimizer, int.Parse(epochText, CultureInfo.InvariantCulture), info);
        }
        catch (Exception e) when (e is JsonException or FormatException or OverflowException)
        {
            optimizer?.Dispose();
            model.Dispose();
            throw e as SafeTensorsFormatException ?? new SafeTensorsFormatException(path, $"its checkpoint metadata is malformed: {e.Message}");
        }
        catch
        {
            optimizer?.Dispose();
            model.Dispose();
            throw;
        }
    }
}
