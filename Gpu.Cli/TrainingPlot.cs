using System.Text;
using Gpu.Training;
using ScottPlot;

namespace Gpu.Cli;

/// <summary>
/// Training curves as a PNG or SVG drawn with ScottPlot: training and validation loss per epoch on
/// the left axis, the learning rate on the right, and a classifier's validation accuracy on a second
/// right axis. Several runs are overlaid, one colour each, named in the legend. Written atomically,
/// so a viewer watching the file never sees half of one.
/// </summary>
internal static class TrainingPlot
{
    public const int Width = 1000;
    public const int Height = 560;

    private static readonly string[] Formats = [".png", ".svg"];

    /// <summary>A usage error unless <paramref name="path"/> ends in .png or .svg.</summary>
    public static void CheckFormat(string flag, string path)
    {
        if (!Formats.Contains(Path.GetExtension(path).ToLowerInvariant()))
            throw new UsageException($"{flag} {path}: plots are written as PNG or SVG; give a path ending in .png or .svg.");
    }

    /// <summary>Why the plot's text cannot be drawn here (no font at all), or null: a plot is still drawn, without words.</summary>
    public static string? FontProblem() =>
        SkiaSharp.SKTypeface.Default.GlyphCount == 0 // without fonts, Skia's default typeface is an empty one
            ? "no fonts found: plots will be drawn without their titles, labels and legend (install a TrueType font, e.g. apt-get install fonts-dejavu-core)"
            : null;

    /// <summary>Draws <paramref name="runs"/> and writes the image to <paramref name="path"/> (its extension picks the format).</summary>
    public static void Write(string path, IReadOnlyList<PlotRun> runs, string title)
    {
        byte[] image = Render(runs, title, Path.GetExtension(path).Equals(".svg", StringComparison.OrdinalIgnoreCase));
        AtomicFile.Write(path, stream => stream.Write(image));
    }

    /// <summary>
    /// The image's bytes. Throws <see cref="PlotException"/> when the drawing library cannot run here
    /// (SkiaSharp's native library or fonts missing), so the caller can say so in one line.
    /// </summary>
    public static byte[] Render(IReadOnlyList<PlotRun> runs, string title, bool svg)
    {
        try
        {
            var plot = Draw(runs, title);
            return svg ? Encoding.UTF8.GetBytes(plot.GetSvgXml(Width, Height)) : plot.GetImageBytes(Width, Height, ImageFormat.Png);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or EntryPointNotFoundException)
        {
            throw new PlotException($"cannot draw plots here: {(e.InnerException ?? e).Message} (SkiaSharp's native library or the fonts it needs are missing)", e);
        }
    }

    private static Plot Draw(IReadOnlyList<PlotRun> runs, string title)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel("loss");
        bool several = runs.Count > 1;
        bool anyRate = runs.Any(r => r.Epochs.Any(e => e.Lr > 0));
        bool anyAccuracy = runs.Any(r => r.Epochs.Any(e => e.ValAccuracy is not null));
        if (anyRate)
            plot.Axes.Right.Label.Text = "learning rate";
        var accuracyAxis = anyAccuracy ? plot.Axes.AddRightAxis() : null;
        if (accuracyAxis is not null)
            accuracyAxis.LabelText = "validation accuracy";

        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < runs.Count; i++)
        {
            var run = runs[i];
            var color = palette.GetColor(i);
            string prefix = several ? $"{run.Name}: " : "";
            double[] epochs = [.. run.Epochs.Select(e => (double)e.Epoch)];
            // Dashes would need a path effect that SVG output lacks: the curves differ by width and markers instead.
            Line(plot, epochs, [.. run.Epochs.Select(e => e.Loss)], 2, 0, $"{prefix}loss", several ? color : Colors.C0);
            if (run.Epochs.Any(e => e.ValLoss is not null))
                Line(plot, epochs, [.. run.Epochs.Select(e => e.ValLoss ?? double.NaN)], 1, 4, $"{prefix}val loss", several ? color : Colors.C1);
            if (anyRate)
                Line(plot, epochs, [.. run.Epochs.Select(e => e.Lr)], 1, 0, $"{prefix}lr", several ? color.WithAlpha(0.5) : Colors.C2).Axes.YAxis = plot.Axes.Right;
            if (accuracyAxis is not null && run.Epochs.Any(e => e.ValAccuracy is not null))
                Line(plot, epochs, [.. run.Epochs.Select(e => e.ValAccuracy ?? double.NaN)], 1, 6, $"{prefix}val accuracy", several ? color : Colors.C3).Axes.YAxis = accuracyAxis;
        }

        // Rates and accuracies from 0: a constant rate would otherwise fill the axis around itself.
        double maxRate = runs.SelectMany(r => r.Epochs).Select(e => e.Lr).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        if (anyRate && maxRate > 0)
            plot.Axes.SetLimitsY(0, 1.1 * maxRate, plot.Axes.Right);
        if (accuracyAxis is not null)
            plot.Axes.SetLimitsY(0, 1.05, accuracyAxis);
        plot.ShowLegend(Edge.Bottom); // below the axes: no corner of the data area is reliably empty
        return plot;
    }

    private static ScottPlot.Plottables.Scatter Line(Plot plot, double[] xs, double[] ys, float width, float marker, string label, Color color)
    {
        var line = plot.Add.Scatter(xs, ys, color);
        line.LineWidth = width;
        line.MarkerSize = xs.Length > 60 ? 0 : marker;
        line.LegendText = label;
        return line;
    }
}

/// <summary>One run's epochs, named in the legend when several runs are drawn.</summary>
internal sealed record PlotRun(string Name, IReadOnlyList<ReportEpoch> Epochs);

/// <summary>Plots cannot be drawn on this machine.</summary>
internal sealed class PlotException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The epoch part behind `train --plot`: redraws the curves after an epoch when a second has passed
/// since the last drawing (a short epoch would otherwise spend more time drawing than training),
/// and <see cref="Finish"/> draws the complete run.
/// </summary>
internal sealed class PlotWriting(string path, string title, Func<EpochEnd, ReportEpoch> row) : IEpochPart
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly List<ReportEpoch> epochs = [];
    private readonly System.Diagnostics.Stopwatch sinceDrawn = System.Diagnostics.Stopwatch.StartNew();
    private bool drawnLast;

    public void AfterEpoch(EpochEnd end)
    {
        epochs.Add(row(end));
        drawnLast = false;
        if (sinceDrawn.Elapsed >= Interval)
            Draw();
    }

    /// <summary>Draws every epoch so far unless the last drawing already holds them.</summary>
    public void Finish()
    {
        if (!drawnLast)
            Draw();
    }

    private void Draw()
    {
        TrainingPlot.Write(path, [new PlotRun(title, epochs)], title);
        drawnLast = true;
        sinceDrawn.Restart();
    }
}
