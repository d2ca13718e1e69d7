using System.CommandLine;
using System.Globalization;
using System.Text;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// `predict --model PATH --data PATH [--out PATH] [--probabilities]`: rebuilds the model from its
/// file (or runs an exported .onnx file through ONNX Runtime), applies the saved standardisation
/// and writes one row of predictions per input row. Output columns: the target names; values are
/// the predicted class for classifiers (the argmax for ce; 1 where the probability is at least 0.5
/// for bce), else the raw outputs (mse, huber). <c>--probabilities</c> adds a classifier's
/// probabilities: one column per class for ce (softmax), one per target for bce (sigmoid).
/// </summary>
internal static class PredictCommand
{
    public static Command Create(CommandContext context)
    {
        var model = new Option<string>("--model") { Description = "A model saved by train --save, or an ONNX file from export (run by ONNX Runtime).", HelpName = "PATH", Required = true };
        var data = new Option<string>("--data") { Description = "CSV or Parquet file(s), as for train --data, with the model's feature columns (target columns may be present; they are ignored).", HelpName = "PATH", Required = true };
        var output = new Option<string?>("--out") { Description = "Write predictions here (CSV) instead of stdout.", HelpName = "PATH" };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda or opencl [GPU_DEVICE, else auto]." }
            .AcceptOnlyFromAmong("auto", "cpu", "cuda", "opencl");
        var probabilities = new Option<bool>("--probabilities") { Description = "For classifiers, add the probabilities: one column per class (softmax) for ce, per target (sigmoid) for bce." };
        var command = new Command("predict", "Predict with a saved model: a class for classifiers, values for regression.") { model, data, output, device, probabilities };
        command.SetAction(parse => Run(context, parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(output), parse.GetValue(device), parse.GetValue(probabilities)));
        return command;
    }

    private static int Run(CommandContext context, string modelPath, string dataPath, string? outputPath, string? deviceName, bool withProbabilities)
    {
        Paths.CheckDistinct([("--model", modelPath), ("--data", dataPath)], [("--out", outputPath)]);
        if (outputPath is not null)
            AtomicFile.CheckWritable(outputPath);
        using var predictor = Predictors.Open(modelPath, deviceName);
        var info = predictor.Info;
        var features = DataLoader.LoadFeatures(dataPath, info.FeatureNames, info.TargetNames, out int rows);
        var outputs = predictor.Predict(features);
        int width = predictor.OutputWidth;

        // What the loss's entry says the outputs are: classes (with probabilities on request) or raw values.
        var loss = Registry<LossEntry>.Find(info.Loss);
        var transform = loss?.Output ?? LossOutput.None;
        bool classes = loss?.ClassIndices == true;
        bool binary = transform == LossOutput.Sigmoid;
        if (withProbabilities && !classes && !binary)
            throw new UsageException($"--probabilities applies to classifiers (--loss ce or bce); {modelPath} was trained with --loss {info.Loss}, whose outputs are values.");
        var text = new StringBuilder();
        var names = info.TargetNames.Count == width || classes ? info.TargetNames : [.. Enumerable.Range(0, width).Select(i => $"y{i}")];
        var header = classes ? names.Take(1).ToList() : [.. names];
        if (withProbabilities)
            header.AddRange(classes ? Enumerable.Range(0, width).Select(c => $"{names[0]}_p{c}") : names.Select(n => $"{n}_p"));
        text.AppendLine(string.Join(",", header));
        for (int r = 0; r < rows; r++)
        {
            var row = outputs.AsSpan(r * width, width);
            var values = ModelOutputs.Transform(row, transform);
            var cells = classes ? [ModelOutputs.ArgMax(row).ToString(CultureInfo.InvariantCulture)]
                : binary ? values.Select(p => p >= 0.5 ? "1" : "0").ToList()
                : values.Select(Format).ToList();
            if (withProbabilities)
                cells.AddRange(values.Select(Format));
            text.AppendLine(string.Join(",", cells));
        }

        if (outputPath is null)
        {
            context.Out.Write(text.ToString());
        }
        else
        {
            AtomicFile.WriteAllText(outputPath, text.ToString());
            context.Error.WriteLine($"Wrote {rows} predictions to {outputPath}");
        }

        return ExitCode.Ok;
    }

    private static string Format(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture);
}
