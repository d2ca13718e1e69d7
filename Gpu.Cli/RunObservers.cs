using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// What watches a `train` run besides the epoch lines: energy (every rank), and on the rank that
/// writes files the TensorBoard event file, the plot and the op profile. Outputs are opened or
/// checked when this is created, before any data is read, so a bad path costs nothing.
/// </summary>
internal sealed class RunObservers : IDisposable
{
    private readonly TrainSettings s;
    private readonly bool writesFiles;
    private readonly TensorBoardWriter? tensorBoard;
    private RunEnergy? energy;
    private PlotWriting? plot;
    private Device? device;
    private Gpu.Runtime.Profiling.OpProfiler? profiler;

    /// <param name="settings">The run's flags.</param>
    /// <param name="writesFiles">False on MPI ranks other than 0: they only measure energy.</param>
    public RunObservers(TrainSettings settings, bool writesFiles)
    {
        s = settings;
        this.writesFiles = writesFiles;
        if (!writesFiles)
            return;
        if (s.Plot is not null)
        {
            try
            {
                AtomicFile.CheckWritable(s.Plot);
            }
            catch (OutputFileException e)
            {
                throw new UsageException($"--plot: {e.Message}");
            }

            // Drawing an empty plot proves the drawing library loads here, before training rather than after it.
            _ = TrainingPlot.Render([], "", svg: false);
            if (TrainingPlot.FontProblem() is { } fonts)
                Warnings.Add($"--plot: {fonts}");
        }

        if (s.TensorBoard is not null)
        {
            try
            {
                tensorBoard = new TensorBoardWriter(s.TensorBoard);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--tensorboard {s.TensorBoard}: cannot write an event file there: {(e is UnauthorizedAccessException ? "permission denied" : e.Message)}");
            }
        }
    }

    /// <summary>What the user should know before training starts (one line each).</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>The event file written, or null.</summary>
    public string? TensorBoardFile => tensorBoard?.Path;

    /// <summary>Adds the epoch parts to <paramref name="trainer"/>: energy first, so the others can report the epoch's joules.</summary>
    public void Attach(Trainer trainer, Device device, ProcessGroup? group, string title, int? context)
    {
        this.device = device;
        energy = new RunEnergy(device, group);
        trainer.Add(energy);
        if (tensorBoard is not null)
        {
            trainer.Add(new TensorBoardLogging(tensorBoard, context,
                _ => energy.LastEpochJoules is { } j ? [("joules", j)] : []));
        }

        if (s.Plot is not null && writesFiles)
            trainer.Add(plot = new PlotWriting(s.Plot, title, end => ReportEpoch.Of(end.Result, context, energy.LastEpochJoules)));
    }

    /// <summary>Just before the first step: reads the energy counters and starts the profiler.</summary>
    public void Start()
    {
        energy?.Start();
        if (s.Profile)
            profiler = device?.StartProfiling();
    }

    /// <summary>After training (also when it diverged): stops the profiler and draws the whole run.</summary>
    public void Finish()
    {
        device?.StopProfiling();
        plot?.Finish();
        tensorBoard?.Dispose();
    }

    /// <summary>The run's energy (a collective under MPI: every rank calls it).</summary>
    public EnergyTotals? Energy() => energy?.Totals();

    /// <summary>The profile over <paramref name="trainSeconds"/>, or null when not asked for.</summary>
    public ReportProfile? Profile(double trainSeconds) =>
        profiler is not null && device is not null ? ProfileTable.Report(device, profiler.Results(), trainSeconds) : null;

    public void Dispose()
    {
        tensorBoard?.Dispose();
        energy?.Dispose();
    }
}
