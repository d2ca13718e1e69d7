using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The flags of `train`, after parsing; <see cref="Validate"/> rejects bad values and combinations.</summary>
internal sealed record TrainSettings
{
    /// <summary>The hidden widths of the default model when neither --layers nor --model is given.</summary>
    public static readonly IReadOnlyList<int> DefaultLayers = [20];

    public string? Data { get; init; }

    /// <summary>--text: byte tokens.</summary>
    public string? Text { get; init; }

    /// <summary>--tokens: llm.c token files.</summary>
    public string? Tokens { get; init; }

    /// <summary>--context: tokens per sample of token data.</summary>
    public int? Context { get; init; }
    public string? Val { get; init; }
    public double? ValSplit { get; init; }
    public IReadOnlyList<string> Targets { get; init; } = [];

    /// <summary>--layers as given, or null when absent (the model then comes from --model, the checkpoint, or <see cref="DefaultLayers"/>).</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>--model, the one-line architecture (Gpu.Training.Architecture).</summary>
    public string? Model { get; init; }

    /// <summary>--input-shape: the sample shape a CSV row holds (C, H, W for images); null: one value per feature.</summary>
    public IReadOnlyList<int>? InputShape { get; init; }
    public string Loss { get; init; } = "mse";
    public string Optimizer { get; init; } = "adam";
    public double Lr { get; init; } = 1e-3;

    /// <summary>The values of the loss's and optimizer's own flags (--momentum, --weight-decay, --huber-delta, ...).</summary>
    public HyperparameterValues Hyperparameters { get; init; } = HyperparameterValues.None;

    /// <summary>--lr-schedule as given (the call grammar), or null for none.</summary>
    public string? LrSchedule { get; init; }
    public double L1 { get; init; }
    public double L2 { get; init; }
    public double? ClipGradNorm { get; init; }
    public double? ClipGradValue { get; init; }
    public int Epochs { get; init; } = 100;
    public int BatchSize { get; init; }

    /// <summary>--accumulate: batches per optimizer step.</summary>
    public int Accumulate { get; init; } = 1;
    public bool? Shuffle { get; init; }
    public int? Patience { get; init; }
    public int Seed { get; init; }
    public string? Device { get; init; }
    public string? Init { get; init; }
    public string? Save { get; init; }
    public string? Checkpoint { get; init; }
    public int? CheckpointEvery { get; init; }
    public string? Resume { get; init; }
    public string? Report { get; init; }
    public int LogEvery { get; init; } = 10;

    /// <summary>--plot: a PNG or SVG of the curves, redrawn during the run.</summary>
    public string? Plot { get; init; }

    /// <summary>--tensorboard: the folder TensorBoard event files go to.</summary>
    public string? TensorBoard { get; init; }

    /// <summary>--profile: time every op and print the table after training.</summary>
    public bool Profile { get; init; }

    /// <summary>--carbon-intensity: grams of CO2 per kWh, as the user's grid reports it (never assumed).</summary>
    public double? CarbonIntensity { get; init; }
    public bool Standardize { get; init; }

    /// <summary>--standardize-target: train a regression on (y - mean) / std, saved with the model, which answers in y's units.</summary>
    public bool StandardizeTarget { get; init; }

    /// <summary>--device-data-mb: the most data (MB) the trainer keeps on the device; null: its default.</summary>
    public double? DeviceDataMegabytes { get; init; }

    /// <summary>--distributed: auto (join the MPI job this process was launched in, if any) or off.</summary>
    public string Distributed { get; init; } = "auto";

    /// <summary>The flags the user gave (with a value of their own), e.g. "--lr": what may contradict a checkpoint.</summary>
    public IReadOnlySet<string> Given { get; init; } = new HashSet<string>();

    public void Validate()
    {
        Require(double.IsFinite(Lr) && Lr >= 0, $"--lr must be a finite number >= 0, got {Lr}.");
        Require(Epochs >= 1, $"--epochs must be at least 1, got {Epochs}.");
        Require(BatchSize >= 0, $"--batch-size must be 0 (full batch) or positive, got {BatchSize}.");
        Require(LogEvery >= 1, $"--log-every must be at least 1, got {LogEvery}.");
        Require(double.IsFinite(L1) && L1 >= 0, $"--l1 must be a finite number >= 0, got {L1}.");
        Require(double.IsFinite(L2) && L2 >= 0, $"--l2 must be a finite number >= 0, got {L2}.");
        Require(DeviceDataMegabytes is null || (double.IsFinite(DeviceDataMegabytes.Value) && DeviceDataMegabytes >= 0), $"--device-data-mb must be a finite number >= 0, got {DeviceDataMegabytes}.");
        Require(Patience is null or >= 1, $"--patience must be at least 1, got {Patience}.");
        Require(Accumulate >= 1, $"--accumulate must be at least 1 batch per optimizer step, got {Accumulate}.");
        Require(ClipGradNorm is null || (double.IsFinite(ClipGradNorm.Value) && ClipGradNorm > 0), $"--clip-grad-norm must be a finite number > 0, got {Number(ClipGradNorm)}.");
        Require(ClipGradValue is null || (double.IsFinite(ClipGradValue.Value) && ClipGradValue > 0), $"--clip-grad-value must be a finite number > 0, got {Number(ClipGradValue)}.");
        if (LrSchedule is not null)
            _ = Schedule(); // a bad schedule is a usage error now, not after loading the data
        Require(ValSplit is null || (ValSplit > 0 && ValSplit < 1), $"--val-split must lie strictly between 0 and 1, got {ValSplit}.");
        Require(Val is null || ValSplit is null, "--val and --val-split cannot be used together.");
        Require(new[] { Data, Text, Tokens }.Count(d => d is not null) <= 1, "--data, --text and --tokens cannot be used together: give one kind of training data.");
        Require(Context is null || IsTokens, "--context applies to token data (--text or --tokens) only.");
        Require(!IsTokens || Context is not null, $"{(Text is not null ? "--text" : "--tokens")} needs --context T, the tokens of one sample (e.g. --context 64).");
        Require(Context is null or >= 1, $"--context must be at least 1 token, got {Context}.");
        Require(!IsTokens || (Targets.Count == 0 && !Standardize && !StandardizeTarget && InputShape is null && Layers is null),
            "--target, --standardize, --standardize-target, --input-shape and --layers apply to --data: token data's targets are the next tokens; describe its model with --model (e.g. embedding(64),lstm(128),linear(256)).");
        Require(Data is not null || IsTokens || (Val is null && ValSplit is null && Targets.Count == 0 && !Standardize && !StandardizeTarget && InputShape is null),
            "--val, --val-split, --target, --standardize, --standardize-target and --input-shape need --data (or --text or --tokens).");
        Require(CheckpointEvery is null || Checkpoint is not null, "--checkpoint-every needs --checkpoint PATH.");
        Require(CheckpointEvery is null or >= 1, $"--checkpoint-every must be at least 1, got {CheckpointEvery}.");
        Require(Init is null || Resume is null, "--init and --resume cannot be used together: a checkpoint already holds the weights.");
        Require(CarbonIntensity is null || (double.IsFinite(CarbonIntensity.Value) && CarbonIntensity >= 0), $"--carbon-intensity must be grams of CO2 per kWh, a finite number >= 0, got {Number(CarbonIntensity)}.");
        if (Plot is not null)
            TrainingPlot.CheckFormat("--plot", Plot);
        if (StandardizeTarget && Registry<LossEntry>.Find(Loss) is { } entry && (entry.ClassIndices || entry.Output != LossOutput.None))
            throw new UsageException($"--standardize-target is for regression (--loss mse or huber); --loss {Loss} reads its targets as classes.");
        Require(Layers is null || Model is null, "--layers and --model cannot be used together: --layers is the shorthand for an MLP, --model describes any model.");

        // Every output against every input and every other output, as the OS resolves the paths. A
        // checkpoint may be continued in place (--resume X --checkpoint X); nothing else may share a file.
        Paths.CheckDistinct(
            [("--data", Data), ("--text", Text), ("--tokens", Tokens), ("--val", Val), ("--init", Init), ("--resume", Resume)],
            [("--save", Save), ("--checkpoint", Checkpoint), ("--report", Report), ("--plot", Plot)],
            ("--checkpoint", "--resume"));
    }

    /// <summary>True for token data (--text or --tokens).</summary>
    public bool IsTokens => Text is not null || Tokens is not null;

    /// <summary>--lr-schedule as a schedule (a new one each call), or null when not given.</summary>
    public LrSchedule? Schedule()
    {
        if (LrSchedule is null)
            return null;
        try
        {
            return Training.LrSchedule.Parse(LrSchedule);
        }
        catch (FormatException e)
        {
            throw new UsageException($"--lr-schedule: {e.Message}");
        }
    }

    private static string Number(double? value) => value?.ToString("R", System.Globalization.CultureInfo.InvariantCulture) ?? "";

    /// <summary>The hidden widths of the MLP to build: --layers, else the default.</summary>
    public IReadOnlyList<int> MlpLayers => Layers ?? DefaultLayers;

    private static void Require(bool condition, string message)
    {
        if (!condition)
            throw new UsageException(message);
    }
}
