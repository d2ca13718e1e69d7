using System.Text.Json;
using System.Text.Json.Serialization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The JSON written by `train --report`, one named record per part (fields documented in docs/training.md).</summary>
/// <param name="Device">What ran the job.</param>
/// <param name="Model">The model trained.</param>
/// <param name="Training">How it was trained: loss, optimizer, schedule, batches, clipping, penalties.</param>
/// <param name="Epochs">Every epoch's losses, accuracy, learning rate, gradient norm and time.</param>
/// <param name="Result">The last losses, the best epoch, whether early stopping ended the run.</param>
/// <param name="Throughput">Time, rates and model FLOP utilisation.</param>
/// <param name="Energy">What the hardware says the run cost.</param>
/// <param name="Ranks">The processes of a data-parallel job (one for a plain run).</param>
/// <param name="Data">The data read and where it was kept.</param>
/// <param name="Profile">The per-op profile of `--profile`, or null.</param>
internal sealed record TrainingReport(
    ReportDevice Device,
    ReportModel Model,
    ReportTraining Training,
    IReadOnlyList<ReportEpoch> Epochs,
    ReportResult Result,
    ReportThroughput Throughput,
    ReportEnergy Energy,
    ReportRanks Ranks,
    ReportData Data,
    ReportProfile? Profile)
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes the report atomically (temporary file, then rename).</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options));
}

internal sealed record ReportDevice(string Kind, string Name, string Backend);

/// <param name="Layers">An MLP's widths (input, hidden..., output), or null for other models.</param>
/// <param name="Architecture">The model in --model's grammar.</param>
/// <param name="InputShape">The sample shape the model takes.</param>
/// <param name="Parameters">Scalar parameters.</param>
internal sealed record ReportModel(IReadOnlyList<int>? Layers, string Architecture, IReadOnlyList<int> InputShape, long Parameters);

/// <param name="Loss">The loss's name.</param>
/// <param name="LossOptions">Its hyperparameters, by flag.</param>
/// <param name="Optimizer">The optimizer's name.</param>
/// <param name="OptimizerOptions">Its options record (PyTorch's names and defaults).</param>
/// <param name="LrSchedule">The schedule in the call grammar, or null for none.</param>
/// <param name="BatchSize">Rows per batch (0: the whole set).</param>
/// <param name="Accumulate">Batches per optimizer step.</param>
/// <param name="ClipGradNorm">Clipping by total norm, or null.</param>
/// <param name="ClipGradValue">Clipping by value, or null.</param>
/// <param name="L1">L1 penalty.</param>
/// <param name="L2">L2 penalty.</param>
internal sealed record ReportTraining(
    string Loss, IReadOnlyDictionary<string, double> LossOptions, string Optimizer, object OptimizerOptions, string? LrSchedule, int BatchSize,
    int Accumulate, double? ClipGradNorm, double? ClipGradValue, double L1, double L2);

/// <param name="Epoch">The epoch, from 0.</param>
/// <param name="Loss">The training loss (sample-weighted mean of the batch losses, penalties included).</param>
/// <param name="ValLoss">The validation loss after the epoch, or null.</param>
/// <param name="ValAccuracy">The validation accuracy of a classifier, or null.</param>
/// <param name="ValBitsPerToken">A language model's validation loss in bits per token (loss / ln 2), or null.</param>
/// <param name="Lr">The learning rate of the epoch's last optimizer step.</param>
/// <param name="GradNorm">The complete gradient's total 2-norm at the epoch's last step, before clipping.</param>
/// <param name="Seconds">The epoch's wall time, validation included.</param>
/// <param name="Joules">The energy the counters measured over the epoch, or null.</param>
internal sealed record ReportEpoch(int Epoch, double Loss, double? ValLoss, double? ValAccuracy, double? ValBitsPerToken, double Lr, double GradNorm, double Seconds, double? Joules = null)
{
    /// <summary>An epoch's row: <paramref name="context"/> (token data's) adds bits per token.</summary>
    public static ReportEpoch Of(EpochResult e, int? context, double? joules) =>
        new(e.Epoch, e.Loss, e.ValLoss, e.ValAccuracy, context is null || e.ValLoss is null ? null : e.ValLoss / Math.Log(2), e.LearningRate, e.GradNorm, e.Seconds, joules);
}

/// <param name="FinalLoss">The last epoch's training loss.</param>
/// <param name="FinalValLoss">The last epoch's validation loss.</param>
/// <param name="FinalValBitsPerToken">A language model's last validation loss in bits per token, or null.</param>
/// <param name="BestEpoch">The epoch with the lowest monitored loss (validation, else training).</param>
/// <param name="StoppedEarly">True when early stopping ended the run.</param>
/// <param name="BestValLoss">The lowest validation loss, or null without validation.</param>
/// <param name="BestValEpoch">Its epoch.</param>
internal sealed record ReportResult(double? FinalLoss, double? FinalValLoss, double? FinalValBitsPerToken, int? BestEpoch, bool StoppedEarly, double? BestValLoss, int? BestValEpoch);

/// <param name="TrainSeconds">Training time (kernels compiled beforehand, loading excluded).</param>
/// <param name="StepsPerSecond">Optimizer steps per second.</param>
/// <param name="SamplesPerSecond">Training rows per second.</param>
/// <param name="TokensPerSecond">Training tokens per second (samples times the context), for token data; else null.</param>
/// <param name="AchievedGflops">Model FLOPs per second, forward and backward.</param>
/// <param name="PeakGflops">The fp32 peak of all ranks' devices, or null when unknown.</param>
/// <param name="ModelFlopUtilisation">Achieved over peak.</param>
/// <param name="PeakSource">Where the peak comes from (a measured FMA probe on CPUs, the architecture table on GPUs).</param>
internal sealed record ReportThroughput(
    double TrainSeconds, double StepsPerSecond, double SamplesPerSecond, double? TokensPerSecond, double AchievedGflops, double? PeakGflops, double? ModelFlopUtilisation, string? PeakSource);

/// <param name="Joules">Every measured source's joules over training (all ranks), or null when none could be read.</param>
/// <param name="Sources">What was read: "nvml" (the GPUs), "rapl" (CPU packages and DRAM, once per machine).</param>
/// <param name="GpuJoules">The GPUs' share, or null.</param>
/// <param name="CpuJoules">The CPUs' and DRAM's share, or null.</param>
/// <param name="NotMeasured">Why a source that applies gave no reading (no powercap, permission denied, no NVML), or null.</param>
/// <param name="JoulesPerEpoch">Joules over epochs trained, or null.</param>
/// <param name="JoulesPerSample">Joules over training samples (every epoch's), or null.</param>
/// <param name="JoulesPerToken">For token data, joules over training tokens, or null.</param>
/// <param name="CarbonIntensity">The --carbon-intensity given (g CO2 per kWh), or null.</param>
/// <param name="GramsCo2">Joules times that intensity, or null.</param>
internal sealed record ReportEnergy(
    double? Joules, IReadOnlyList<string> Sources, double? GpuJoules, double? CpuJoules, string? NotMeasured, double? JoulesPerEpoch, double? JoulesPerSample,
    double? JoulesPerToken, double? CarbonIntensity, double? GramsCo2);

/// <param name="Backend">What ran the ops ("host SIMD", "ILGPU kernels").</param>
/// <param name="HostThreads">Cores the host ops ran on, or null on a kernel device.</param>
/// <param name="Timing">"clock" (host ops) or "device events" (kernels).</param>
/// <param name="TrainSeconds">The training time the ops' shares are of.</param>
/// <param name="OpSeconds">The ops' total.</param>
/// <param name="Ops">Every op and timed region, most time first.</param>
internal sealed record ReportProfile(string Backend, int? HostThreads, string Timing, double TrainSeconds, double OpSeconds, IReadOnlyList<ReportOp> Ops);

/// <param name="Name">The op: a kernel's name, matmul by form and shape, conv2d by shape, "data feed", "all-reduce".</param>
/// <param name="Calls">Calls during training.</param>
/// <param name="TotalSeconds">Their total time.</param>
/// <param name="MeanSeconds">Per call.</param>
/// <param name="Share">Total over the training time.</param>
/// <param name="Gflops">Achieved GFLOP/s, or null for ops without counted FLOPs.</param>
/// <param name="GigabytesPerSecond">Achieved GB/s of the tensors read and written, or null.</param>
internal sealed record ReportOp(string Name, long Calls, double TotalSeconds, double MeanSeconds, double Share, double? Gflops, double? GigabytesPerSecond);

/// <summary>A job's ranks: how many, each one's device, time in collectives, through which MPI (null for one process).</summary>
internal sealed record ReportRanks(int WorldSize, IReadOnlyList<string> Devices, double CommunicationSeconds, string? Mpi);

/// <summary>The data files read (bytes, seconds; 0 for the reference example's generated data), where the trainer kept the rows ("device" or "host"), and token data's counts.</summary>
internal sealed record ReportData(long Bytes, double LoadSeconds, string? Residence, ReportTokens? Tokens = null);

/// <summary>Token data: how tokens were read ("bytes" or "uint16"), how many, the context, the training and validation windows, the vocabulary.</summary>
internal sealed record ReportTokens(string Kind, long Tokens, int Context, int Windows, int ValidationWindows, int Vocabulary);
