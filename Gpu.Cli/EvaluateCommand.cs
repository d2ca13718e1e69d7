using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// `evaluate --model M --data D [--out metrics.json]`: a saved model (or an exported ONNX file) on
/// labelled data, with the metrics users look for (as scikit-learn computes them): accuracy,
/// per-class precision, recall and F1, and the confusion matrix for classifiers (ROC AUC too for
/// bce); MSE, RMSE, MAE and R^2 per target for regression.
/// </summary>
internal static class EvaluateCommand
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public static Command Create(CommandContext context)
    {
        var model = new Option<string>("--model") { Description = "A model saved by train --save, or an ONNX file from export.", HelpName = "PATH", Required = true };
        var data = new Option<string>("--data") { Description = "Labelled data: CSV or Parquet with the model's feature and target columns.", HelpName = "PATH", Required = true };
        var output = new Option<string?>("--out") { Description = "Also write the metrics as JSON here.", HelpName = "PATH" };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda or opencl [GPU_DEVICE, else auto]." }
            .AcceptOnlyFromAmong("auto", "cpu", "cuda", "opencl");
        var command = new Command("evaluate", "Score a saved model on labelled data: accuracy, precision, recall, F1, confusion matrix (ROC AUC for bce); MSE, RMSE, MAE, R2 for regression.")
        {
            model, data, output, device,
        };
        command.SetAction(parse => Run(context, parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(output), parse.GetValue(device)));
        return command;
    }

    private static int Run(CommandContext context, string modelPath, string dataPath, string? outputPath, string? deviceName)
    {
        Paths.CheckDistinct([("--model", modelPath), ("--data", dataPath)], [("--out", outputPath)]);
        if (outputPath is not null)
            AtomicFile.CheckWritable(outputPath);
        using var predictor = Predictors.Open(modelPath, deviceName);
        var info = predictor.Info;
        if (info.Extra?.ContainsKey(TokenModel.DataKey) == true)
            throw new UsageException($"{modelPath} is a language model: evaluate scores models of rows (CSV or Parquet); its validation loss is in train's report.");
        var set = DataLoader.Load(dataPath, info.TargetNames);
        if (!set.FeatureNames.SequenceEqual(info.FeatureNames))
            throw new UsageException($"{dataPath} has features {string.Join(",", set.FeatureNames)} but {modelPath} was trained on {string.Join(",", info.FeatureNames)}.");
        var outputs = predictor.Predict(set.Features);
        int width = predictor.OutputWidth, rows = set.Count, targets = set.TargetCount;
        var loss = Registry<LossEntry>.Find(info.Loss);
        var transform = loss?.Output ?? LossOutput.None;

        object result;
        var text = new StringBuilder();
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Evaluated {modelPath} on {rows:N0} rows of {dataPath}"));
        if (loss?.ClassIndices == true)
        {
            var truth = new int[rows];
            var predicted = new int[rows];
            for (int r = 0; r < rows; r++)
            {
                float label = set.Targets[r];
                if (!(label >= 0 && label < width && label == MathF.Floor(label)))
                    throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"row {r + 1} of {dataPath}: label {label} is not a class of this model (0 to {width - 1})."));
                truth[r] = (int)label;
                predicted[r] = ModelOutputs.ArgMax(outputs.AsSpan(r * width, width));
            }

            var metrics = Metrics.Classification(truth, predicted, width);
            Describe(text, metrics);
            result = new { kind = "classification", rows, metrics.Accuracy, macro_precision = metrics.MacroPrecision, macro_recall = metrics.MacroRecall, macro_f1 = metrics.MacroF1, classes = metrics.Classes, confusion = metrics.Confusion };
        }
        else if (transform == LossOutput.Sigmoid)
        {
            var perTarget = new List<object>();
            for (int t = 0; t < targets; t++)
            {
                var truth = new int[rows];
                var predicted = new int[rows];
                var scores = new double[rows];
                for (int r = 0; r < rows; r++)
                {
                    float label = set.Targets[r * targets + t];
                    if (label is not (0 or 1))
                        throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"row {r + 1} of {dataPath}: target '{info.TargetNames[t]}' is {label}; a bce model's labels are 0 or 1."));
                    truth[r] = (int)label;
                    scores[r] = ModelOutputs.Transform(outputs.AsSpan(r * width + t, 1), LossOutput.Sigmoid)[0];
                    predicted[r] = scores[r] >= 0.5 ? 1 : 0;
                }

                var metrics = Metrics.Classification(truth, predicted, 2);
                double? auc = Metrics.RocAuc(truth, scores);
                text.AppendLine($"{info.TargetNames[t]}:");
                Describe(text, metrics);
                text.AppendLine(auc is { } a ? string.Create(CultureInfo.InvariantCulture, $"  ROC AUC {a:F4}") : "  ROC AUC undefined (one class only)");
                perTarget.Add(new { target = info.TargetNames[t], metrics.Accuracy, roc_auc = auc, classes = metrics.Classes, confusion = metrics.Confusion });
            }

            result = new { kind = "binary", rows, targets = perTarget };
        }
        else
        {
            var perTarget = new List<object>();
            for (int t = 0; t < targets; t++)
            {
                var truth = Enumerable.Range(0, rows).Select(r => (double)set.Targets[r * targets + t]).ToArray();
                var predicted = Enumerable.Range(0, rows).Select(r => (double)outputs[r * width + t]).ToArray();
                var m = Metrics.Regression(truth, predicted);
                text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{info.TargetNames[t]}: MSE {m.Mse:G6}, RMSE {m.Rmse:G6}, MAE {m.Mae:G6}, R2 {m.R2:F4}"));
                perTarget.Add(new { target = info.TargetNames[t], m.Mse, m.Rmse, m.Mae, m.R2 });
            }

            result = new { kind = "regression", rows, targets = perTarget };
        }

        context.Out.Write(text.ToString());
        if (outputPath is not null)
        {
            AtomicFile.WriteAllText(outputPath, JsonSerializer.Serialize(result, Json));
            context.Out.WriteLine($"Wrote the metrics to {outputPath}");
        }

        return ExitCode.Ok;
    }

    private static void Describe(StringBuilder text, ClassificationMetrics m)
    {
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(string.Create(c, $"  accuracy {m.Accuracy:F4}; macro precision {m.MacroPrecision:F4}, recall {m.MacroRecall:F4}, F1 {m.MacroF1:F4}"));
        text.AppendLine("  class  precision  recall      F1  support");
        foreach (var k in m.Classes)
            text.AppendLine(string.Create(c, $"  {k.Class,5}  {k.Precision,9:F4}  {k.Recall,6:F4}  {k.F1,6:F4}  {k.Support,7}"));
        text.AppendLine("  confusion (rows: true class, columns: predicted)");
        foreach (var row in m.Confusion)
            text.AppendLine("  " + string.Join(" ", row.Select(v => v.ToString(c).PadLeft(5))));
    }
}
