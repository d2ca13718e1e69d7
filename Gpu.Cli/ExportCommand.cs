using System.CommandLine;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>`export --model PATH --out PATH.onnx`: a trained model as an ONNX file (docs/training.md, "Deploying").</summary>
internal static class ExportCommand
{
    public static Command Create(CommandContext context)
    {
        var model = new Option<string>("--model") { Description = "A model saved by train --save (or a checkpoint).", HelpName = "PATH", Required = true };
        var output = new Option<string>("--out") { Description = "The ONNX file to write (opset 17), for ONNX Runtime or ML.NET.", HelpName = "PATH", Required = true };
        var command = new Command("export", "Export a trained model to ONNX: raw features in (standardisation included), outputs and, for classifiers, probabilities out.") { model, output };
        command.SetAction(parse => Run(context, parse.GetValue(model)!, parse.GetValue(output)!));
        return command;
    }

    private static int Run(CommandContext context, string modelPath, string outputPath)
    {
        Paths.CheckDistinct([("--model", modelPath)], [("--out", outputPath)]);
        AtomicFile.CheckWritable(outputPath);
        using var device = Device.CreateCpu();
        try
        {
            OnnxExport.Save(modelPath, outputPath, device);
        }
        catch (NotSupportedException e)
        {
            throw new UsageException(e.Message);
        }

        context.Out.WriteLine($"Wrote {outputPath} (ONNX opset {OnnxExport.Opset}, input 'input', output 'output')");
        return ExitCode.Ok;
    }
}
