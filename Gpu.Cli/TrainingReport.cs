using System.Text.Json;
using System.Text.Json.Serialization;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>The JSON written by `train --report` (field names fixed by the issue tracker).</summary>
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
    double? EnergyJoules,
    string? EnergySource)
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

internal sealed record ReportDevice(string Kind, string Name);

internal sealed record ReportModel(IReadOnlyList<int> Layers, long Parameters);

internal sealed record ReportEpoch(int Epoch, double Loss, double? ValLoss, double Seconds);
