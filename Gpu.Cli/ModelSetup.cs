using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The model of a `train` run: built from the flags (--layers, --model, --input-shape) for a new
/// run, or checked against the flags for a resumed one, where every flag the user gave must agree
/// with what the checkpoint holds.
/// </summary>
internal static class ModelSetup
{
    // Class indices are floats on the device: exact up to 2^24.
    // More classes than this is a regression target by mistake (house prices), not a classifier: an error, not a huge last layer.
    private const int MaxClasses = 100_000;

    /// <summary>The model the flags describe for this data, on the device (with --init weights when given).</summary>
    public static Sequential Create(TrainSettings s, Device device, RunData data)
    {
        var model = Describe(s, data).To(device, s.Seed);
        try
        {
            if (s.Init is not null)
                ModelFile.LoadWeights(s.Init, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The model the flags describe (not yet on a device), its outputs checked against the targets.</summary>
    public static Sequential Describe(TrainSettings s, RunData data)
    {
        if (data.Tokens is not null)
            return DescribeLanguageModel(s, data);
        var train = data.Table!;
        int outputs = Outputs(s, train, data.Validation as Dataset);
        var shape = InputShape(s, train);
        if (s.Model is null)
        {
            if (shape.Rank != 1)
                throw new UsageException($"--layers builds an MLP over {train.FeatureCount} features; for --input-shape {string.Join(",", shape.ToArray())} describe the model with --model (e.g. \"conv(16,3),relu,flatten,linear({outputs})\").");
            return Sequential.Mlp(train.FeatureCount, s.MlpLayers, outputs);
        }

        var model = Parse(s, shape, null);
        if (model.OutputShape.Rank != 1 || model.OutputFeaturesCount != outputs)
        {
            model.Dispose();
            string what = Registry<LossEntry>.Get(s.Loss, "loss").ClassIndices ? $"{outputs} classes (labels 0 to {outputs - 1})" : $"{outputs} target column{(outputs == 1 ? "" : "s")}";
            throw new UsageException($"--model ends with outputs {Module.Describe(model.OutputShape)} but the data has {what}; end it with linear({outputs}).");
        }

        return model;
    }

    // A model over token windows: T ids in, T positions of logits over at least the vocabulary out.
    private static Sequential DescribeLanguageModel(TrainSettings s, RunData data)
    {
        int vocabulary = data.Vocabulary!.Value, context = data.Tokens!.Context, largest = data.LargestId!.Value;
        if (s.Model is null)
            throw new UsageException($"token data needs --model, e.g. \"embedding(64),lstm(128),linear({vocabulary})\".");
        if (!Registry<LossEntry>.Get(s.Loss, "loss").ClassIndices)
            throw new UsageException($"--loss {s.Loss}: token data trains a language model, whose targets are the next tokens' ids: use --loss ce.");
        var model = Parse(s, new TensorShape(context), vocabulary);
        var output = model.OutputShape;
        if (output.Rank != 2 || output[0] != context || output[1] < vocabulary)
        {
            model.Dispose();
            throw new UsageException($"--model ends with outputs {Module.Describe(output)} but a language model over {context}-token windows gives logits (N, {context}, {vocabulary}): end it with linear({vocabulary}).");
        }

        if (model.Modules[0] is Embedding embedding && embedding.Vocabulary <= largest)
        {
            model.Dispose();
            throw new UsageException($"token id {largest} is not below the embedding's vocabulary of {embedding.Vocabulary}: give vocab={largest + 1} or more.");
        }

        return model;
    }

    private static Sequential Parse(TrainSettings s, TensorShape shape, int? vocabulary)
    {
        try
        {
            return Architecture.Parse(s.Model!, shape, vocabulary);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--model: {e.Message}");
        }
    }

    /// <summary>Every architecture, loss and optimizer flag the user gave must agree with the checkpoint.</summary>
    public static void CheckResumable(TrainSettings s, ResumedTraining resumed, RunData data)
    {
        if (s.Given.Contains("--loss") && resumed.Info.Loss != s.Loss)
            throw new UsageException($"{s.Resume} was trained with --loss {resumed.Info.Loss}, not {s.Loss}.");
        if (!resumed.Info.FeatureNames.SequenceEqual(data.FeatureNames))
            throw new UsageException(data.Tokens is null
                ? $"{s.Resume} was trained on features {string.Join(",", resumed.Info.FeatureNames)}, but the data has {string.Join(",", data.FeatureNames)}."
                : $"{s.Resume} was trained on {resumed.Info.FeatureNames.Count} inputs a sample, but --context gives {data.FeatureNames.Count}.");
        var model = resumed.Model;
        if (s.Given.Overlaps(["--layers", "--model", "--input-shape"]))
        {
            using var flags = Describe(s, data);
            if (!flags.InputShape.Equals(model.InputShape) || !flags.Specs.SequenceEqual(model.Specs))
                throw new UsageException($"{s.Resume} holds the model {Summary(model)}, but the flags describe {Summary(flags)}; drop the architecture flags to resume it.");
        }

        RunSetup.CheckOptimizer(s, resumed.Optimizer);
    }

    private static string Summary(Sequential model) => model.IsMlp ? $"MLP {model.Summary}" : $"{Module.Describe(model.InputShape)} {Architecture.Format(model)}";

    private static TensorShape InputShape(TrainSettings s, Dataset train)
    {
        if (s.InputShape is null)
            return new TensorShape(train.FeatureCount);
        var shape = new TensorShape([.. s.InputShape]);
        if (shape.Length != train.FeatureCount)
            throw new UsageException($"--input-shape {string.Join(",", s.InputShape)} holds {shape.Length} values but the data has {train.FeatureCount} feature columns.");
        return shape;
    }

    // The width of the last layer: the target columns, or the classes for a loss over class indices (ce).
    private static int Outputs(TrainSettings s, Dataset train, Dataset? validation)
    {
        if (!Registry<LossEntry>.Get(s.Loss, "loss").ClassIndices)
            return train.TargetCount;
        if (train.TargetCount != 1)
            throw new UsageException($"--loss {s.Loss} needs one target column of class indices, got {train.TargetCount}.");
        float max = 0;
        foreach (var set in validation is null ? [train] : new[] { train, validation })
        {
            var labels = set.TargetRows;
            for (int i = 0; i < labels.Length; i++)
            {
                float label = labels[i];
                if (!(label >= 0 && label < MaxClasses) || label != MathF.Floor(label))
                {
                    string what = label != MathF.Floor(label) ? "a value that is not a whole number" : label < 0 ? "a negative value" : "a value too large for a class index";
                    throw new UsageException(
                        $"--loss {s.Loss} reads target '{set.TargetNames[0]}' as class indices (whole numbers 0 to {MaxClasses - 1:N0}), but row {i + 1} of the {(set == train ? "training" : "validation")} data holds {label.ToString("G9", CultureInfo.InvariantCulture)}, {what}; for a continuous target (regression) use --loss mse or huber.");
                }
                max = Math.Max(max, label);
            }
        }

        int classes = (int)max + 1;
        if (classes < 2)
            throw new UsageException($"--loss {s.Loss} needs at least two classes (labels 0, 1, ...); every label is 0.");
        return classes;
    }
}
