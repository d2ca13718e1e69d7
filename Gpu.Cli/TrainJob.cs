using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// One `train` run: data, model, optimizer, the training loop with progress, then save and report.
/// Under an MPI launcher (mpirun -np N) it is one rank of a data-parallel job (docs/distributed.md):
/// every rank trains its share of each batch on its own device; rank 0 alone prints and writes files;
/// a rank that fails prints one line naming itself and aborts the whole job.
/// </summary>
internal sealed class TrainJob(CommandContext context, TrainSettings s)
{
    private const int ReferenceTrainRows = 100;
    private const int ReferenceValRows = 20;
    private const int ReferenceFeatures = 10;

    private static readonly CommandContext Silent = new(TextWriter.Null, TextWriter.Null, false);

    private ProcessGroup? group;

    // What loading took (bytes and seconds of every data set), and where the trainer kept the data: for the report.
    private readonly List<LoadStats> loads = [];
    private string? dataResidence;

    // Rank 0 (or the only process) prints, without live progress under a launcher; the other ranks stay silent.
    private CommandContext Output => group is null ? context : group.Rank == 0 ? context with { Interactive = false } : Silent;

    public int Run()
    {
        var launch = s.Distributed == "off" ? null : ProcessGroup.DetectLaunch();
        if (launch is not { WorldSize: > 1 } job)
            return Train();

        // Joining can fail (no libmpi): that error is this process's alone, printed as usual.
        using var processGroup = ProcessGroup.Join(job.Flavour);
        group = processGroup;
        try
        {
            return Train();
        }
        catch (Exception e)
        {
            // One line naming the rank, then the whole job stops: no rank waits in a collective.
            int code = CommandLine.ExitCodeOf(e);
            context.Error.WriteLine($"error: rank {processGroup.Rank} of {processGroup.WorldSize}: {CommandLine.Describe(e)}");
            context.Error.Flush();
            processGroup.Abort(code);
            throw;
        }
    }

    private bool WritesFiles => group is null || group.Rank == 0;

    private int Train()
    {
        // Every output must be writable before any work: a bad path is found now, not after training.
        if (WritesFiles)
        {
            foreach (var path in new[] { s.Save, s.Checkpoint, s.Report }.OfType<string>())
                AtomicFile.CheckWritable(path);
        }

        using var observers = new RunObservers(s, WritesFiles);
        foreach (string warning in observers.Warnings)
            Output.Error.WriteLine($"warning: {warning}");

        var context = Output;
        using var device = group is null
            ? Device.Create(s.Device)
            : Device.Create(s.Device, group.LocalRank, Math.Max(1, Environment.ProcessorCount / group.LocalSize));
        context.Out.WriteLine(group is null ? $"Device: {context.Describe(device)}" : $"Device (rank 0 of {group.WorldSize}, {group.Implementation}): {context.Describe(device)}");
        var data = LoadData();

        using var resumed = s.Resume is null ? null : TrainingCheckpoint.Load(s.Resume, device);
        if (resumed is not null)
        {
            // What was not given comes from the checkpoint; what was given must agree with it (ModelSetup, RunSetup).
            s = s with
            {
                Loss = s.Given.Contains("--loss") ? s.Loss : resumed.Info.Loss,
                Optimizer = s.Given.Contains("--optimizer") ? s.Optimizer : resumed.Optimizer.Name,
            };
        }

        HyperparameterFlags.Check(s.Hyperparameters, Registry<LossEntry>.Get(s.Loss, "loss"), Registry<OptimizerEntry>.Get(s.Optimizer, "optimizer"));
        var standardizer = resumed is not null ? resumed.Info.Standardizer : s.Standardize ? Standardizer.Fit(data.Table!) : null;
        if (standardizer is not null && data.Table is { } table)
        {
            standardizer.TransformInPlace(table);
            if (data.Validation is Dataset validationTable)
                standardizer.TransformInPlace(validationTable);
        }

        // Regression targets in their own units (house prices) standardised for training; the model answers in those units.
        if (resumed is not null && s.StandardizeTarget && resumed.Info.TargetStandardizer is null)
            throw new UsageException($"--standardize-target: {s.Resume} was trained on raw targets; resume it without the flag.");
        var targetStandardizer = resumed is not null ? resumed.Info.TargetStandardizer : s.StandardizeTarget ? Standardizer.FitTargets(data.Table!) : null;
        if (targetStandardizer is not null && data.Table is { } targets)
        {
            targetStandardizer.TransformTargetsInPlace(targets);
            if (data.Validation is Dataset validationTargets)
                targetStandardizer.TransformTargetsInPlace(validationTargets);
        }

        if (resumed is not null)
            ModelSetup.CheckResumable(s, resumed, data);
        var (loss, lossOptions) = RunSetup.Loss(s, resumed);
        using var lossInUse = loss;
        using var fresh = resumed is null ? ModelSetup.Create(s, device, data) : null;
        var model = resumed?.Model ?? fresh!;
        using var freshOptimizer = resumed is null ? RunSetup.Optimizer(s, model.Parameters()) : null;
        var optimizer = resumed?.Optimizer ?? freshOptimizer!;
        int startEpoch = resumed?.Epoch ?? 0;
        var options = RunSetup.TrainerOptions(s, resumed?.State, s.DeviceDataMegabytes is { } mb ? (long)(mb * 1e6) : null, s.Patience);
        var info = new ModelInfo(s.Loss, data.FeatureNames, data.TargetNames, standardizer, Extra(device, optimizer, lossOptions, data), targetStandardizer);
        if (model.IsMlp)
            context.Out.WriteLine($"Model: MLP {model.Summary}, {model.ParameterCount} parameters");
        else
            context.Out.WriteLine($"Model: {Module.Describe(model.InputShape)} {Architecture.Format(model)}, {model.ParameterCount} parameters");

        var trainer = new Trainer(model, loss, optimizer, options, group);
        if (startEpoch >= s.Epochs)
        {
            // Nothing left to train: the outputs asked for are written from the checkpoint's state,
            // so that an older file at those paths never passes for this run's result.
            context.Out.WriteLine($"Nothing to train: {s.Resume} has completed {startEpoch} of {s.Epochs} epochs.");
            WriteOutputs(device, model, optimizer, trainer, info, lossOptions, data, new TrainingHistory(), observers);
            return ExitCode.Ok;
        }

        CheckSchedule(trainer, data.Train.Count);
        if (group is not null)
            CheckRanksAgree(group, data, model, optimizer, options, device);

        // After every epoch, in this order (the trainer's own parts, the schedule and early stopping, come first).
        var progress = new TrainingProgress(context, s.Epochs, startEpoch, data.Tokens?.Context);
        var log = new EpochLog(progress, s.LogEvery, s.Epochs, showRate: options.Schedule is not null, perToken: data.Tokens is not null);
        trainer.Add(log);
        var checkpoints = WritesFiles && s.Checkpoint is not null ? new Checkpointing(s.Checkpoint, s.CheckpointEvery ?? 10, s.Epochs, model, optimizer, info) : null;
        if (checkpoints is not null)
            trainer.Add(checkpoints);
        observers.Attach(trainer, device, group, Title(data), data.Tokens?.Context);

        // Compile every kernel before the clock starts, so epoch times show the steady state (the
        // host path has none to compile).
        var compile = System.Diagnostics.Stopwatch.StartNew();
        device.CompileKernels();
        if (device.CompiledKernels > 0)
            context.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Compiled {device.CompiledKernels} kernels in {compile.Elapsed.TotalSeconds:F2} s"));

        observers.Start();
        TrainingHistory history;
        try
        {
            history = progress.Run(() => trainer.Fit(data.Train, data.Validation, startEpoch, earlyStopping: resumed?.EarlyStopping));
        }
        catch (TrainingDivergedException e)
        {
            observers.Finish();
            string kept = checkpoints?.LastWritten is { } epoch
                ? $" The last good checkpoint is {s.Checkpoint} (after epoch {epoch})."
                : s.Checkpoint is not null && File.Exists(s.Checkpoint) ? $" {s.Checkpoint} was left as it was." : "";
            context.Error.WriteLine($"error: {e.Message}{kept}");
            return ExitCode.Diverged;
        }

        observers.Finish();
        log.Finish();
        dataResidence = trainer.DataResidence;
        if (history.StoppedEarly)
            context.Out.WriteLine($"Stopped early after epoch {history.Last!.Epoch}: no improvement for {s.Patience} epochs (best: epoch {history.BestEpoch}).");
        WriteOutputs(device, model, optimizer, trainer, info, lossOptions, data, history, observers);
        return ExitCode.Ok;
    }

    // A schedule's arguments against this run (warmup shorter than the run, ...): a usage error before any step.
    private static void CheckSchedule(Trainer trainer, int rows)
    {
        try
        {
            trainer.CheckSchedule(rows);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--lr-schedule {trainer.Schedule?.Format()}: {e.Message}");
        }
    }

    /// <summary>
    /// One epoch as the reference example prints it: <c>Epoch 10, Loss: ..., Val Loss: ...</c> (6
    /// significant digits; the report keeps every digit), then accuracy for classifiers and, for
    /// token data, the validation loss in bits per token.
    /// </summary>
    internal static string EpochLine(EpochResult e, bool perToken = false)
    {
        string line = e.ValLoss is { } v ? $"Epoch {e.Epoch}, Loss: {Short(e.Loss)}, Val Loss: {Short(v)}" : $"Epoch {e.Epoch}, Loss: {Short(e.Loss)}";
        if (e.ValAccuracy is { } accuracy)
            line = string.Create(CultureInfo.InvariantCulture, $"{line}, Val Accuracy: {accuracy:F4}");
        return perToken && e.ValLoss is { } loss ? string.Create(CultureInfo.InvariantCulture, $"{line}, Val Bits/Token: {loss / Math.Log(2):F4}") : line;
    }

    /// <summary>A number for people: 6 significant digits, invariant culture.</summary>
    internal static string Short(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    // The closing summary, then the model and the report when asked for (rank 0 only).
    private void WriteOutputs(Device device, Sequential model, Optimizer optimizer, Trainer trainer, ModelInfo info, IReadOnlyDictionary<string, double> lossOptions, RunData runData, TrainingHistory history, RunObservers observers)
    {
        var energy = observers.Energy(); // a collective: before the ranks that write nothing leave
        var ranks = group is null
            ? new ReportRanks(1, [$"{device.Info.KindName}: {device.Info.Name}"], 0, null)
            : new ReportRanks(group.WorldSize, group.AllGather($"{device.Info.KindName}: {device.Info.Name}"), history.CommunicationSeconds, group.Implementation);
        if (!WritesFiles)
            return;
        var context = Output;
        var tokens = runData.Tokens;
        var data = new ReportData(loads.Sum(l => l.Bytes), loads.Sum(l => l.Seconds), dataResidence,
            tokens is null ? null : new ReportTokens(tokens.Tokens.Kind, tokens.Tokens.Count + ((runData.Validation as TokenWindows)?.Tokens is { } v && v != tokens.Tokens ? v.Count : 0),
                tokens.Context, runData.Train.Count, runData.Validation?.Count ?? 0, runData.Vocabulary!.Value));
        var o = trainer.Options;
        var training = new ReportTraining(s.Loss, lossOptions, optimizer.Name, optimizer.Options, o.Schedule?.Format(), o.BatchSize, o.Accumulate,
            o.ClipGradNorm, o.ClipGradValue, o.L1, o.L2);
        var profile = observers.Profile(history.TrainSeconds);
        if (profile is not null)
            context.Out.WriteLine(ProfileTable.Format(profile));
        var summary = Summarise(device, model, history, energy, s.CarbonIntensity, profile, ranks, training, data, tokens?.Context);
        context.Out.WriteLine(summary.Text);
        if (observers.TensorBoardFile is { } events)
            context.Out.WriteLine($"Wrote TensorBoard events to {events} (tensorboard --logdir {s.TensorBoard})");
        if (s.Plot is not null && history.Epochs.Count > 0)
            context.Out.WriteLine($"Drew the curves to {s.Plot}");
        if (s.Save is not null)
        {
            ModelFile.Save(s.Save, model, info with { Extra = Extra(device, optimizer, lossOptions, runData, history) });
            context.Out.WriteLine($"Saved the model to {s.Save}");
        }

        if (s.Report is not null)
        {
            summary.Report.Write(s.Report);
            context.Out.WriteLine($"Wrote the report to {s.Report}");
        }
    }

    private RunData LoadData()
    {
        if (s.IsTokens)
            return LoadTokens();
        if (s.Data is null)
        {
            // The reference example: torch.randn-like data, seeded.
            return RunData.Of(Dataset.Synthetic(ReferenceTrainRows, ReferenceFeatures, 1, s.Seed),
                    Dataset.Synthetic(ReferenceValRows, ReferenceFeatures, 1, unchecked(s.Seed + 1)));
        }

        // Parts and standardisation work in place: the loaded arrays are the only copy of the data.
        var train = LoadingProgress.Load(Output, s.Data, progress => DataLoader.Load(s.Data, s.Targets, progress), out var trainLoad);
        loads.Add(trainLoad);
        if (s.Val is not null)
        {
            var validation = LoadingProgress.Load(Output, s.Val, progress => DataLoader.Load(s.Val, train.TargetNames, progress), out var validationLoad);
            loads.Add(validationLoad);
            if (!validation.FeatureNames.SequenceEqual(train.FeatureNames))
                throw new UsageException($"{s.Val} has features {string.Join(",", validation.FeatureNames)} but {s.Data} has {string.Join(",", train.FeatureNames)}.");
            return RunData.Of(train, validation);
        }

        if (s.ValSplit is { } fraction)
        {
            var (part, held) = train.SplitInPlace(fraction, s.Seed);
            return RunData.Of(part, held);
        }

        return RunData.Of(train, null);
    }

    // --text or --tokens: the windows of the training files, and of --val's or the tail's.
    private RunData LoadTokens()
    {
        string flag = s.Text is not null ? "--text" : "--tokens", path = s.Text ?? s.Tokens!;
        var train = Windows(flag, path, Tokens(path));
        if (s.Val is not null)
            return RunData.Of(train, Windows("--val", s.Val, Tokens(s.Val)));
        if (s.ValSplit is { } fraction)
        {
            try
            {
                var (part, held) = train.SplitTail(fraction);
                return RunData.Of(part, held);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"--val-split: {e.Message}");
            }
        }

        return RunData.Of(train, null);
    }

    // The token files of one flag, read with the time it took.
    private TokenStream Tokens(string path)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TokenStream stream;
        try
        {
            stream = s.Text is not null
                ? TokenStream.FromText(DataFiles.Resolve(path, [".txt"]))
                : TokenStream.FromLlmc(DataFiles.Resolve(path, [".bin"]));
        }
        catch (DataFormatException e)
        {
            // Not a token file at all (a bad magic, a count beyond its size): the flag names the wrong file.
            throw new UsageException(e.Message);
        }

        loads.Add(new LoadStats(stream.Bytes, clock.Elapsed.TotalSeconds));
        Output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Tokens: {path}: {stream.Count:N0} {(stream.Kind == TokenStream.BytesKind ? "bytes" : "uint16 tokens")} in {stream.Files} file{(stream.Files == 1 ? "" : "s")}, vocabulary {stream.Vocabulary}"));
        return stream;
    }

    private TokenWindows Windows(string flag, string path, TokenStream stream)
    {
        try
        {
            return new TokenWindows(stream, s.Context!.Value);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--context {s.Context} is too long for {flag} {path}: {e.Message}");
        }
    }

    private Dictionary<string, string> Extra(Device device, Optimizer optimizer, IReadOnlyDictionary<string, double> lossOptions, RunData data, TrainingHistory? history = null)
    {
        var extra = new Dictionary<string, string>
        {
            ["device"] = $"{device.Info.KindName}: {device.Info.Name}",
            ["optimizer"] = optimizer.Name,
            ["lr"] = Number(optimizer.BaseLearningRate),
            ["seed"] = s.Seed.ToString(CultureInfo.InvariantCulture),
            [RunSetup.LossOptionsKey] = System.Text.Json.JsonSerializer.Serialize(lossOptions),
        };
        if (data.Tokens is { } tokens)
        {
            // What `generate` needs: how text becomes tokens, how many the model sees, and their range.
            extra[TokenModel.DataKey] = tokens.Tokens.Kind;
            extra[TokenModel.ContextKey] = tokens.Context.ToString(CultureInfo.InvariantCulture);
            extra[TokenModel.VocabularyKey] = data.Vocabulary!.Value.ToString(CultureInfo.InvariantCulture);
        }

        if (history?.Last is { } last)
        {
            extra["epochs"] = (last.Epoch + 1).ToString(CultureInfo.InvariantCulture);
            extra["final_loss"] = Number(last.Loss);
            if (last.ValLoss is { } v)
                extra["final_val_loss"] = Number(v);
        }

        return extra;
    }

    // Ranks that disagree on the data or the configuration would train different models: compared
    // (as one line each) across ranks before the first step.
    private void CheckRanksAgree(ProcessGroup processGroup, RunData data, Sequential model, Optimizer optimizer, TrainerOptions options, Device device)
    {
        var train = data.Train;
        string mine = string.Create(CultureInfo.InvariantCulture,
            $"data {train.Count}x{train.FeatureCount}->{train.TargetCount} ({string.Join(",", data.FeatureNames)} -> {string.Join(",", data.TargetNames)}), validation {data.Validation?.Count ?? 0} rows, model {Module.Describe(model.InputShape)} {Architecture.Format(model)}, loss {s.Loss} {System.Text.Json.JsonSerializer.Serialize(s.Hyperparameters.Given)}, {optimizer.Name} {System.Text.Json.JsonSerializer.Serialize(optimizer.Options, optimizer.Options.GetType())}, batch {s.BatchSize}, accumulate {options.Accumulate}, schedule {options.Schedule?.Format() ?? "none"}, clip {options.ClipGradNorm}/{options.ClipGradValue}, l1 {options.L1}, l2 {options.L2}, epochs {s.Epochs}, seed {s.Seed}, shuffle {s.Shuffle}");
        var all = processGroup.AllGather(mine);
        int other = Array.FindIndex(all, text => text != all[0]);
        if (other > 0)
            throw new UsageException($"ranks disagree on the data or configuration: rank 0 has {Shorten(all[0], all[other])}, rank {other} has {Shorten(all[other], all[0])}; every rank must be given the same flags and data.");
    }

    // The part of `text` from where it first differs from `other`, enough to see the difference.
    private static string Shorten(string text, string other)
    {
        int same = 0;
        while (same < text.Length && same < other.Length && text[same] == other[same])
            same++;
        int start = Math.Max(0, text.LastIndexOf(',', Math.Max(0, same - 1)) + 1);
        return $"'{text[start..Math.Min(text.Length, start + 80)].Trim()}'";
    }

    private static (string Text, TrainingReport Report) Summarise(
        Device device, Sequential model, TrainingHistory history, EnergyTotals? energy, double? carbonIntensity, ReportProfile? profile, ReportRanks ranks,
        ReportTraining training, ReportData data, int? context)
    {
        double seconds = history.TrainSeconds;
        double stepsPerSecond = seconds > 0 ? history.Steps / seconds : 0;
        double samplesPerSecond = seconds > 0 ? history.Samples / seconds : 0;
        double? tokensPerSecond = context is { } t ? samplesPerSecond * t : null;
        double gflops = seconds > 0 ? model.Flops(training: true) * (double)history.Samples / seconds / 1e9 : 0;
        var energyReport = EnergyReport(energy, carbonIntensity, history, context);
        string energyText = energy?.Describe() ?? "not measured (no epoch trained)";
        if (energyReport.JoulesPerSample is { } perSample)
            energyText += string.Create(CultureInfo.InvariantCulture, $", {perSample:G4} J/sample");
        if (energyReport.GramsCo2 is { } grams)
            energyText += string.Create(CultureInfo.InvariantCulture, $", {grams:G4} g CO2 at {carbonIntensity} g/kWh");
        var bestVal = history.Epochs.Where(e => e.ValLoss is not null).MinBy(e => e.ValLoss!.Value);
        string best = bestVal is null ? "" : string.Create(CultureInfo.InvariantCulture, $"; best val loss {bestVal.ValLoss!.Value:G6} at epoch {bestVal.Epoch}");
        // Model FLOP utilisation against the fp32 peak of every rank's device (null when unknown).
        var peak = PeakFlops.Of(device);
        double? peakGflops = peak is { } p ? p.Flops * ranks.WorldSize / 1e9 : null;
        double? utilisation = peakGflops is { } pg && pg > 0 ? gflops / pg : null;
        string mfu = utilisation is { } u ? string.Create(CultureInfo.InvariantCulture, $" (MFU {100 * u:F2}% of {peakGflops:F0} GFLOP/s)") : " (MFU unknown: no fp32 peak for this device)";
        string where = ranks.Mpi is null ? $"{device.Info.KindName} ({device.Info.Name})" : $"{ranks.WorldSize} ranks ({string.Join(", ", ranks.Devices.Distinct())})";
        string communication = ranks.Mpi is null ? "" : string.Create(CultureInfo.InvariantCulture, $", {ranks.CommunicationSeconds:F3} s in communication ({100 * ranks.CommunicationSeconds / Math.Max(seconds, 1e-9):F0}%)");
        string text = string.Create(CultureInfo.InvariantCulture,
            $"Trained {history.Epochs.Count} epochs ({history.Steps} steps, {history.Samples} samples) on {where} in {seconds:F3} s{communication}: {stepsPerSecond:F0} steps/s, {samplesPerSecond:F0} samples/s{(tokensPerSecond is { } tps ? $" ({tps:F0} tokens/s)" : "")}, {gflops:F3} GFLOP/s{mfu}; energy: {energyText}{best}.");
        var last = history.Last;
        var report = new TrainingReport(
            new ReportDevice(device.Info.KindName, device.Info.Name, device.BackendDescription),
            new ReportModel(model.IsMlp ? model.LayerWidths : null, Architecture.Format(model), model.InputShape.ToArray(), model.ParameterCount),
            training,
            [.. history.Epochs.Select((e, i) => ReportEpoch.Of(e, context, energy is not null && i < energy.Epochs.Count ? energy.Epochs[i] : null))],
            new ReportResult(last?.Loss, last?.ValLoss, Bits(context, last?.ValLoss), history.BestEpoch, history.StoppedEarly, bestVal?.ValLoss, bestVal?.Epoch),
            new ReportThroughput(seconds, stepsPerSecond, samplesPerSecond, tokensPerSecond, gflops, peakGflops, utilisation, peak?.Source),
            energyReport,
            ranks,
            data,
            profile);
        return (text, report);
    }

    // Joules in total, per epoch, per sample (per token), and as grams of CO2 at the user's intensity.
    private static ReportEnergy EnergyReport(EnergyTotals? energy, double? carbonIntensity, TrainingHistory history, int? context)
    {
        double? joules = energy?.Joules;
        double? perSample = joules is { } j && history.Samples > 0 ? j / history.Samples : null;
        return new ReportEnergy(joules, energy?.Sources ?? [], energy?.GpuJoules, energy?.CpuJoules, joules is null ? energy?.Missing ?? "no epoch trained" : energy?.Missing,
            joules is { } total && history.Epochs.Count > 0 ? total / history.Epochs.Count : null, perSample, context is { } t ? perSample / t : null,
            carbonIntensity, joules is { } k && carbonIntensity is { } g ? k / 3.6e6 * g : null);
    }

    // The plot's title: the data and the model.
    private string Title(RunData data) =>
        $"{((s.Data ?? s.Text ?? s.Tokens) is { } path ? Path.GetFileName(Path.TrimEndingDirectorySeparator(path)) : "reference example")}: {s.Loss}, {s.Optimizer}";

    // A language model's loss in bits per token (its cross-entropy is in nats): null for other data.
    private static double? Bits(int? context, double? loss) => context is null || loss is null ? null : loss / Math.Log(2);

    /// <summary>Shortest round-trip form, as Python prints a float (<c>repr</c>).</summary>
    internal static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
