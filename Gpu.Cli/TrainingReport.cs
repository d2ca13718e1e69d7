using System.Text.Json;
using System.Text.Json.Serialization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The JSON written by `train --report` (fields documented in docs/training.md).</summary>
internal sealed record TrainingReport(
    ReportDevice Device,
    ReportModel Model,
    IReadOnlyList<ReportEpoch> Epochs,
    double? FinalLoss,
    double? FinalValLoss,
    double TrainSeconds,
    double StepsPerSecond,
    double SamplesPerSecond,
    double AchievedGflops,
    double? PeakGflops,
    double? ModelFlopUtilisation,
    string? PeakSource,
    double? EnergyJoules,
    string? EnergySource,
    int WorldSize,
    IReadOnlyList<string> RankDevices,
    double CommunicationSeconds,
    string? Mpi,
    ReportData Data)
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes the report atomically (temporary file, then rename).</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options));
}

/// <summary>The data files read (bytes, seconds; 0 for the reference example's generated data) and where the trainer kept the rows ("device" or "host").</summary>
internal sealed record ReportData(long Bytes, double LoadSeconds, string? Residence);

/// <summary>A data-parallel job's ranks: how many, through which MPI, each one's device, time in collectives.</summary>
internal sealed record ReportRanks(int WorldSize, string Implementation, IReadOnlyList<string> Devices, double CommunicationSeconds);

internal sealed record ReportDevice(string Kind, string Name, string Backend);

/// <param name="Layers">An MLP's widths (input, hidden..., output), or null for other models.</param>
/// <param name="Architecture">The model in --model's grammar.</param>
/// <param name="InputShape">The sample shape the model takes.</param>
/// <param name="Parameters">Scalar parameters.</param>
internal sealed record ReportModel(IReadOnlyList<int>? Layers, string Architecture, IReadOnlyList<int> InputShape, long Parameters);

internal sealed record ReportEpoch(int Epoch, double Loss, double? ValLoss, double? ValAccuracy, double Seconds);
