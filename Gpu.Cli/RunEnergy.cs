using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// What a run's energy counters say, epoch by epoch: the GPU's (NVML) on every rank with one, and
/// the CPU package and DRAM (Linux RAPL) once per machine (local rank 0 reads them; ranks on one
/// machine share its packages). After each epoch the ranks' readings are summed, so every rank
/// holds the job's joules. A source that any rank cannot read is left out with the reason, and with
/// no source at all the joules are null: never an estimate.
/// </summary>
internal sealed class RunEnergy : IEpochPart, IDisposable
{
    private readonly ProcessGroup? group;
    private readonly GpuEnergyCounter? gpu;
    private readonly RaplCounters? rapl;
    private readonly bool measuresGpu;
    private readonly bool countsHost;
    private string? gpuProblem;
    private string? cpuProblem;
    private double? gpuLast;
    private RaplReading? raplLast;
    private readonly List<double?> epochJoules = [];
    private double gpuTotal;
    private double cpuTotal;
    private bool gpuMissing;
    private bool cpuMissing;

    public RunEnergy(Device device, ProcessGroup? group)
    {
        this.group = group;
        measuresGpu = device.Kind != DeviceKind.Cpu;
        gpu = measuresGpu ? device.OpenEnergyCounter(out gpuProblem) : null;
        countsHost = group is null || group.LocalRank == 0;
        rapl = countsHost ? RaplCounters.Open(out cpuProblem) : null;
    }

    /// <summary>Reads the counters the first epoch is measured from.</summary>
    public void Start()
    {
        gpuLast = gpu?.ReadJoules(out gpuProblem);
        raplLast = rapl?.Read(out cpuProblem);
    }

    public void AfterEpoch(EpochEnd end)
    {
        // This rank's joules per source since the last reading; NaN for a source it should read but cannot.
        double gpuJoules = 0, cpuJoules = 0;
        if (measuresGpu)
        {
            double? now = gpu?.ReadJoules(out gpuProblem);
            gpuJoules = now is { } n && gpuLast is { } l ? n - l : double.NaN;
            gpuLast = now;
        }

        if (countsHost)
        {
            var now = rapl?.Read(out cpuProblem);
            cpuJoules = now is not null && raplLast is not null ? now.JoulesSince(raplLast) : double.NaN;
            raplLast = now;
        }

        // Summed over ranks (NaN anywhere makes that source's sum NaN).
        Span<double> sums = [gpuJoules, cpuJoules];
        group?.AllReduceSum(sums);
        gpuMissing |= measuresGpu && double.IsNaN(sums[0]);
        cpuMissing |= double.IsNaN(sums[1]);
        gpuTotal += measuresGpu && !gpuMissing ? sums[0] : 0;
        cpuTotal += cpuMissing ? 0 : sums[1];
        double epoch = (measuresGpu && !gpuMissing ? sums[0] : 0) + (cpuMissing ? 0 : sums[1]);
        epochJoules.Add(Measured ? epoch : null);
    }

    /// <summary>True while at least one source has been read on every rank that should read it.</summary>
    private bool Measured => (measuresGpu && !gpuMissing) || !cpuMissing;

    /// <summary>The last epoch's joules (all ranks), or null.</summary>
    public double? LastEpochJoules => epochJoules.Count == 0 ? null : epochJoules[^1];

    /// <summary>The run's totals for the report, with why a source is missing (one rank's reason, the first found).</summary>
    public EnergyTotals Totals()
    {
        var reasons = new List<string>();
        if (measuresGpu && (gpuMissing || epochJoules.Count == 0))
            reasons.Add($"GPU: {FirstReason(gpuProblem ?? "no reading")}");
        if (cpuMissing || epochJoules.Count == 0)
            reasons.Add($"CPU: {FirstReason(cpuProblem ?? "no reading")}");
        var sources = new List<string>();
        if (measuresGpu && !gpuMissing && epochJoules.Count > 0)
            sources.Add("nvml");
        if (!cpuMissing && epochJoules.Count > 0)
            sources.Add("rapl");
        double? joules = sources.Count == 0 ? null : gpuTotal + cpuTotal;
        return new EnergyTotals(joules, measuresGpu && sources.Contains("nvml") ? gpuTotal : null, sources.Contains("rapl") ? cpuTotal : null,
            sources, reasons.Count == 0 ? null : string.Join("; ", reasons), epochJoules);
    }

    // Under MPI the reason comes from whichever rank could not read (every rank takes part, in the same order).
    private string FirstReason(string mine)
    {
        if (group is null)
            return mine;
        var all = group.AllGather(mine);
        return all.FirstOrDefault(r => r != "no reading") ?? mine;
    }

    public void Dispose() => gpu?.Dispose();
}

/// <param name="Joules">Every measured source's joules over training, or null when none could be read.</param>
/// <param name="GpuJoules">The GPUs' share (NVML), or null.</param>
/// <param name="CpuJoules">The CPU packages' and DRAM's share (RAPL), or null.</param>
/// <param name="Sources">What was read: "nvml", "rapl".</param>
/// <param name="Missing">Why a source that applies was not read, or null.</param>
/// <param name="Epochs">Each epoch's joules (null where none were read).</param>
internal sealed record EnergyTotals(double? Joules, double? GpuJoules, double? CpuJoules, IReadOnlyList<string> Sources, string? Missing, IReadOnlyList<double?> Epochs)
{
    /// <summary>The summary's words: "12.3 J (RAPL: CPU package and DRAM)" or why there is no reading.</summary>
    public string Describe()
    {
        if (Joules is not { } j)
            return $"not measured ({Missing})";
        string what = string.Join(" + ", Sources.Select(s => s == "nvml" ? "NVML: GPU" : "RAPL: CPU package and DRAM"));
        return string.Create(CultureInfo.InvariantCulture, $"{j:F1} J ({what}){(Missing is null ? "" : $"; not included: {Missing}")}");
    }
}
