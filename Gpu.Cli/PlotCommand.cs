using System.CommandLine;
using System.Text.Json;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>`plot REPORT.json [REPORT2.json ...] --out FILE`: the curves of saved runs (train --report), overlaid to compare them.</summary>
internal static class PlotCommand
{
    private static readonly JsonSerializerOptions ReportJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command Create(CommandContext context)
    {
        var reports = new Argument<string[]>("REPORT") { Description = "Reports written by train --report; each is one run.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "The image to write: .png or .svg.", HelpName = "FILE", Required = true };
        var names = new Option<string?>("--names") { Description = "The runs' names in the legend, comma-separated [each report's file name].", HelpName = "NAMES" };
        var title = new Option<string?>("--title") { Description = "The plot's title [training curves].", HelpName = "TEXT" };
        var command = new Command("plot", "Draw the loss curves (and learning rate, accuracy) of saved training reports, several runs overlaid.") { reports, output, names, title };
        command.SetAction(parse => Run(context, parse.GetValue(reports)!, parse.GetValue(output)!, parse.GetValue(names), parse.GetValue(title)));
        return command;
    }

    private static int Run(CommandContext context, string[] paths, string output, string? names, string? title)
    {
        TrainingPlot.CheckFormat("--out", output);
        Paths.CheckDistinct([.. paths.Select(p => ("REPORT", (string?)p))], [("--out", output)]);
        var labels = names?.Split(',', StringSplitOptions.TrimEntries) ?? [.. paths.Select(p => Path.GetFileNameWithoutExtension(p))];
        if (labels.Length != paths.Length)
            throw new UsageException($"--names gives {labels.Length} names for {paths.Length} reports.");
        AtomicFile.CheckWritable(output);
        if (TrainingPlot.FontProblem() is { } fonts)
            context.Error.WriteLine($"warning: {fonts}");
        var runs = paths.Select((path, i) => new PlotRun(labels[i], Read(path))).ToList();
        TrainingPlot.Write(output, runs, title ?? (runs.Count == 1 ? labels[0] : "training curves"));
        context.Out.WriteLine($"Drew {runs.Count} run{(runs.Count == 1 ? "" : "s")} to {output}");
        return ExitCode.Ok;
    }

    // A report's epochs; a file that is not a report says so in one line.
    private static List<ReportEpoch> Read(string path)
    {
        string text = File.ReadAllText(path);
        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("epochs", out var epochs) || epochs.ValueKind != JsonValueKind.Array)
                throw new DataFormatException(path, null, null, "not a training report (train --report): it has no \"epochs\" list");
            var rows = epochs.Deserialize<List<ReportEpoch>>(ReportJson) ?? [];
            if (rows.Count == 0)
                throw new DataFormatException(path, null, null, "the report has no epochs to plot");
            return rows;
        }
        catch (JsonException e)
        {
            throw new DataFormatException(path, e.LineNumber is { } line ? (int)line + 1 : null, null, $"not a training report (train --report): {e.Message}");
        }
    }
}
