using System.Globalization;

namespace Gpu.Runtime;

/// <summary>
/// The CPU's energy counters through Linux's powercap interface (RAPL, on Intel and AMD):
/// <c>/sys/class/powercap/intel-rapl:*</c> zones, each with a <c>name</c>, a cumulative
/// <c>energy_uj</c> and the <c>max_energy_range_uj</c> at which it wraps to 0. The package zones
/// (cores, caches, uncore) and the DRAM zones are counted; the core, uncore and platform (psys)
/// zones are not, as they overlap the package. Counters are for the whole machine, so processes on
/// one machine must count them once. Since Linux 5.10 <c>energy_uj</c> is readable by root only;
/// any failure gives no reading with the reason, never an estimate.
/// </summary>
public sealed class RaplCounters
{
    /// <summary>Environment variable naming another powercap folder (tests use a fake tree).</summary>
    public const string RootVariable = "GPU_POWERCAP_ROOT";

    private const string DefaultRoot = "/sys/class/powercap";

    // The counted zones' folders and names, found once, and their wrap ranges, read by the first
    // reading: later readings open only the counter files.
    private readonly (string Folder, string Name)[] zones;
    private ulong[]? ranges;

    private RaplCounters((string Folder, string Name)[] zones) => this.zones = zones;

    /// <summary>The powercap folder read: <see cref="RootVariable"/>, else /sys/class/powercap.</summary>
    public static string Root => Environment.GetEnvironmentVariable(RootVariable) is { Length: > 0 } root ? root : DefaultRoot;

    /// <summary>The package and DRAM counters of this machine, readable now, or null with why not.</summary>
    public static RaplCounters? Open(out string? problem)
    {
        string root = Root;
        string[] folders;
        try
        {
            folders = Directory.Exists(root) ? Directory.GetDirectories(root, "intel-rapl:*") : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"no RAPL reading: cannot list {root}: {e.Message}";
            return null;
        }

        Array.Sort(folders, StringComparer.Ordinal);
        var counted = new List<(string, string)>();
        foreach (string folder in folders)
        {
            string name;
            try
            {
                name = File.ReadAllText(Path.Combine(folder, "name")).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // a zone without a readable name cannot be placed
            }

            if (name.StartsWith("package", StringComparison.Ordinal) || name == "dram")
                counted.Add((folder, name));
        }

        if (counted.Count == 0)
        {
            problem = folders.Length == 0
                ? $"no RAPL counters: {root} has no intel-rapl zones (not Linux on bare metal, or the powercap driver is not loaded)"
                : $"no RAPL counters: {root} has no package or dram zone";
            return null;
        }

        var counters = new RaplCounters([.. counted]);
        return counters.Read(out problem) is null ? null : counters;
    }

    /// <summary>Every counted zone's counter now, or null with why it cannot be read.</summary>
    public RaplReading? Read(out string? problem)
    {
        var readings = new RaplZone[zones.Length];
        for (int i = 0; i < zones.Length; i++)
        {
            var (folder, name) = zones[i];
            string energy = Path.Combine(folder, "energy_uj");
            try
            {
                ulong microjoules = ReadNumber(energy);
                ulong range = ranges?[i] ?? ReadNumber(Path.Combine(folder, "max_energy_range_uj"));
                readings[i] = new RaplZone(Path.GetFileName(folder), name, microjoules, range);
            }
            catch (UnauthorizedAccessException) when (!Directory.Exists(energy)) // .NET reports reading a folder this way too
            {
                problem = $"no RAPL reading: permission denied on {energy} (root only since Linux 5.10; an administrator can grant read access)";
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException)
            {
                problem = $"no RAPL reading: cannot read {energy}: {e.Message}";
                return null;
            }
        }

        ranges ??= [.. readings.Select(r => r.RangeMicrojoules)];
        problem = null;
        return new RaplReading(readings);
    }

    private static ulong ReadNumber(string path) => ulong.Parse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
}

/// <summary>One zone's counter: its folder, its name ("package-0", "dram"), microjoules, and where it wraps.</summary>
public sealed record RaplZone(string Zone, string Name, ulong Microjoules, ulong RangeMicrojoules);

/// <summary>The counted zones at one moment.</summary>
public sealed record RaplReading(IReadOnlyList<RaplZone> Zones)
{
    /// <summary>
    /// Joules used from <paramref name="before"/> to this reading, summed over zones; a counter that
    /// went down wrapped once at its range. Zones missing from either reading are left out.
    /// </summary>
    public double JoulesSince(RaplReading before)
    {
        ArgumentNullException.ThrowIfNull(before);
        double microjoules = 0;
        foreach (var zone in Zones)
        {
            var earlier = before.Zones.FirstOrDefault(z => z.Zone == zone.Zone);
            if (earlier is null)
                continue;
            microjoules += zone.Microjoules >= earlier.Microjoules
                ? zone.Microjoules - earlier.Microjoules
                : zone.RangeMicrojoules - earlier.Microjoules + zone.Microjoules;
        }

        return microjoules / 1e6;
    }
}
