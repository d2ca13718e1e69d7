using System.CommandLine;
using System.Globalization;
using System.Text;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// `inspect MODEL`: what a model file (or checkpoint) holds, without Python: the module tree as
/// PyTorch prints it, a table of layers with output shapes and parameter counts (torchinfo's
/// summary), the loss, features, targets, standardisation and the training metadata.
/// </summary>
internal static class InspectCommand
{
    public static Command Create(CommandContext context)
    {
        var model = new Argument<string>("MODEL") { Description = "A model saved by train --save, or a checkpoint." };
        var command = new Command("inspect", "Show what a model file holds: layers with output shapes and parameters, loss, columns, standardisation, training metadata.") { model };
        command.SetAction(parse => Run(context, parse.GetValue(model)!));
        return command;
    }

    private static int Run(CommandContext context, string path)
    {
        if (Predictors.IsOnnx(path))
            throw new UsageException($"{path}: inspect reads this project's model files (safetensors); an ONNX file's graph is best seen in an ONNX viewer such as Netron.");
        using var device = Device.CreateCpu();
        using var saved = ModelFile.Load(path, device);
        var (model, info) = (saved.Model, saved.Info);
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(string.Create(c, $"{path} ({new FileInfo(path).Length:N0} bytes)"));
        text.AppendLine(model.ToString());
        text.AppendLine();

        // torchinfo's summary: each layer, the shape it gives, its parameters.
        var counts = model.ParameterLayout.GroupBy(p => int.Parse(p.Name[..p.Name.IndexOf('.')], c)).ToDictionary(g => g.Key, g => g.Sum(p => (long)p.Shape.Length));
        var rows = model.Modules.Select((m, i) => (Layer: $"{i}  {m.Spec.Format()}", Shape: Module.Describe(i + 1 < model.Modules.Count ? model.ShapeBefore(i + 1) : model.OutputShape), Params: counts.GetValueOrDefault(i))).ToList();
        int width = Math.Max(20, rows.Max(r => r.Layer.Length));
        text.AppendLine($"{"Layer".PadRight(width)}  {"Output shape",-18}  {"Params",10}");
        text.AppendLine($"{"input".PadRight(width)}  {Module.Describe(model.InputShape),-18}  {"",10}");
        foreach (var (layer, shape, parameters) in rows)
            text.AppendLine(string.Create(c, $"{layer.PadRight(width)}  {shape,-18}  {parameters,10:N0}"));
        text.AppendLine(string.Create(c, $"Total parameters: {model.ParameterCount:N0} ({model.ParameterCount * 4 / 1024.0:F1} KiB as float32); {model.Flops(training: false):N0} FLOPs per sample forward"));
        text.AppendLine();

        var loss = Registry<LossEntry>.Find(info.Loss);
        text.AppendLine($"Loss: {info.Loss}{(loss is null ? "" : $" ({loss.Description})")}{(loss?.ClassIndices == true ? string.Create(c, $", {model.OutputFeaturesCount} classes") : "")}");
        text.AppendLine($"Features ({info.FeatureNames.Count}): {List(info.FeatureNames)}");
        text.AppendLine($"Targets ({info.TargetNames.Count}): {List(info.TargetNames)}");
        text.AppendLine(info.Standardizer is { } s
            ? string.Create(c, $"Standardisation: every feature (x - mean) / std, saved: mean {s.Mean.Min():G4} to {s.Mean.Max():G4}, std {s.Std.Min():G4} to {s.Std.Max():G4}")
            : "Standardisation: none");
        if (info.Extra is { Count: > 0 } extra)
        {
            text.AppendLine("Training:");
            foreach (var (key, value) in extra.OrderBy(e => e.Key, StringComparer.Ordinal))
                text.AppendLine($"  {key}: {value}");
        }

        context.Out.Write(text.ToString());
        return ExitCode.Ok;
    }

    // A long column list shows its first and last names.
    private static string List(IReadOnlyList<string> names) =>
        names.Count <= 12 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(6))}, ..., {string.Join(", ", names.TakeLast(3))}";
}
