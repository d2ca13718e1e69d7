using System.CommandLine;
using System.Globalization;
using System.Text;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// `predict --model PATH --data PATH [--out PATH]`: rebuilds the model from its file (or runs an
/// exported .onnx file through ONNX Runtime), applies the saved standardisation and writes one row
/// of predictions per input row. Output columns: the
/// target names; values are the predicted class index for losses over class indices (ce), else
/// the outputs through the loss's output transform (probabilities for bce, raw values for mse).
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
        var command = new Command("predict", "Predict with a saved model.") { model, data, output, device };
        command.SetAction(parse => Run(context, parse.GetValue(model)!, parse.GetValue(data)!, parse.GetValue(output), parse.GetValue(device)));
        return command;
    }

    private static int Run(CommandContext context, string modelPath, string dataPath, string? outputPath, string? deviceName)
    {
        Paths.CheckDistinct([("--model", modelPath), ("--data", dataPath)], [("--out", outputPath)]);
        if (outputPath is not null)
            AtomicFile.CheckWritable(outputPath);
        using var device = IsOnnx(modelPath) ? null : Device.Create(deviceName);
        using IPredictor predictor = device is null ? new OnnxPredictor(modelPath) : new ModelFilePredictor(ModelFile.Load(modelPath, device));
        var info = predictor.Info;
        var features = DataLoader.LoadFeatures(dataPath, info.FeatureNames, info.TargetNames, out int rows);
        var outputs = predictor.Predict(features);
        int width = predictor.OutputWidth;

        // What the loss's entry says the outputs are: a class index (argmax), probabilities, or raw values.
        var loss = Registry<LossEntry>.Find(info.Loss);
        bool classes = loss?.ClassIndices == true;
        var text = new StringBuilder();
        var header = classes ? info.TargetNames.Take(1) : info.TargetNames.Count == width ? info.TargetNames : Enumerable.Range(0, width).Select(i => $"y{i}");
        text.AppendLine(string.Join(",", header));
        for (int r = 0; r < rows; r++)
        {
            var row = outputs.AsSpan(r * width, width);
            text.AppendLine(classes
                ? ArgMax(row).ToString(CultureInfo.InvariantCulture)
                : string.Join(",", Transform(row.ToArray(), loss?.Output ?? LossOutput.None).Select(Format)));
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

    /// <summary>An exported ONNX model (run by ONNX Runtime) rather than a model file of this project.</summary>
    private static bool IsOnnx(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
                best = i;
        }

        return best;
    }

    // Probabilities from raw outputs, as the ONNX export's "probabilities" output computes them.
    private static double[] Transform(float[] row, LossOutput output) => output switch
    {
        LossOutput.Sigmoid => [.. row.Select(v => 1.0 / (1.0 + Math.Exp(-v)))],
        LossOutput.Softmax => Softmax(row),
        _ => [.. row.Select(v => (double)v)],
    };

    private static double[] Softmax(float[] row)
    {
        double max = row.Max();
        var e = row.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return [.. e.Select(v => v / sum)];
    }

    private static string Format(double value) => ((float)value).ToString("R", CultureInfo.InvariantCulture);
}
