using System.Buffers.Binary;
using System.Text.Json;
using System.Xml.Linq;
using Google.Protobuf;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>Seeing a run: TensorBoard event files, plots, RAPL energy, and the outputs' errors.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class ObservabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-observe-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string In(string name) => Path.Combine(folder, name);

    [Fact]
    public void Crc32CIsTheCastagnoliChecksum()
    {
        // The standard check value of CRC-32C, and the bitwise definition on other bytes.
        Assert.Equal(0xE3069283u, TensorBoardWriter.Crc32C("123456789"u8));
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)(i * 37 + 11)).ToArray();
        Assert.Equal(BitwiseCrc32C(bytes), TensorBoardWriter.Crc32C(bytes));
    }

    [Fact]
    public void TheTensorBoardFileHoldsEveryEpochsScalarsUnderValidChecksums()
    {
        var started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var run = CliRun.Run("train", "--epochs", "6", "--batch-size", "32", "--lr-schedule", "cosine", "--tensorboard", In("tb"), "--report", In("r.json"));
        Assert.True(run.Code == 0, run.Err);
        var ended = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var file = Assert.Single(Directory.GetFiles(In("tb")));
        Assert.Matches(@"^events\.out\.tfevents\.\d+\.", Path.GetFileName(file));
        Assert.Contains(file, run.Out);

        var events = ReadEvents(File.ReadAllBytes(file));
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        using var report = JsonDocument.Parse(File.ReadAllText(In("r.json")));
        var epochs = report.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var scalars = events.Skip(1).ToList();
        Assert.Equal(epochs.Count, scalars.Count);
        for (int i = 0; i < epochs.Count; i++)
        {
            var e = epochs[i];
            var s = scalars[i];
            // 100 rows in batches of 32: 4 optimizer steps an epoch.
            Assert.Equal(4L * (i + 1), s.Step);
            Assert.InRange(s.WallTime, started - 1, ended + 1);
            Assert.Equal((float)e.GetProperty("loss").GetDouble(), s.Values["loss"]);
            Assert.Equal((float)e.GetProperty("val_loss").GetDouble(), s.Values["val_loss"]);
            Assert.Equal((float)e.GetProperty("lr").GetDouble(), s.Values["lr"]);
            Assert.Equal((float)e.GetProperty("grad_norm").GetDouble(), s.Values["grad_norm"]);
            Assert.True(s.Values["samples_per_second"] > 0);
            Assert.False(s.Values.ContainsKey("val_accuracy")); // a regression
        }

        // The cosine schedule's rates reach the file: they fall epoch by epoch.
        Assert.True(scalars[^1].Values["lr"] < scalars[0].Values["lr"]);
    }

    [Fact]
    public void APngAndAnSvgOfAThreeEpochRunHaveThePlotsSize()
    {
        var png = CliRun.Run("train", "--epochs", "3", "--plot", In("curves.png"));
        Assert.True(png.Code == 0, png.Err);
        var bytes = File.ReadAllBytes(In("curves.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR"u8.ToArray(), bytes[12..16]);
        Assert.Equal(1000, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(560, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));

        var svg = CliRun.Run("train", "--epochs", "3", "--data", Path.Combine(Repository.Root, "data", "digits.csv"), "--loss", "ce", "--model", "linear(10)", "--val-split", "0.2", "--plot", In("curves.svg"));
        Assert.True(svg.Code == 0, svg.Err);
        var root = XDocument.Load(In("curves.svg")).Root!;
        Assert.Equal("svg", root.Name.LocalName);
        Assert.Equal("1000", root.Attribute("width")!.Value);
        Assert.Equal("560", root.Attribute("height")!.Value);
    }

    [SkippableFact]
    public void AClassifiersPlotNamesItsCurvesAndAxes()
    {
        Skip.If(SkiaSharp.SKTypeface.Default.GlyphCount == 0, "no fonts on this machine: plots have no text (.ci/run installs fonts-dejavu-core)");
        var svg = CliRun.Run("train", "--epochs", "3", "--data", Path.Combine(Repository.Root, "data", "digits.csv"), "--loss", "ce", "--model", "linear(10)", "--val-split", "0.2", "--plot", In("curves.svg"));
        Assert.True(svg.Code == 0, svg.Err);
        string text = File.ReadAllText(In("curves.svg"));
        foreach (string label in new[] { "val accuracy", "validation accuracy", "learning rate", "val loss", "digits.csv: ce, adam" })
            Assert.Contains(label, text);
    }

    [Fact]
    public void SavedReportsAreOverlaidWithTheirNames()
    {
        Assert.Equal(0, CliRun.Run("train", "--epochs", "4", "--report", In("adam.json")).Code);
        Assert.Equal(0, CliRun.Run("train", "--epochs", "4", "--optimizer", "sgd", "--lr", "0.1", "--report", In("sgd.json")).Code);
        var run = CliRun.Run("plot", In("adam.json"), In("sgd.json"), "--out", In("both.svg"));
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("Drew 2 runs", run.Out);
        string svg = File.ReadAllText(In("both.svg"));
        Assert.Contains("adam: loss", svg);
        Assert.Contains("sgd: val loss", svg);

        var named = CliRun.Run("plot", In("adam.json"), In("sgd.json"), "--names", "fast,slow", "--out", In("named.png"));
        Assert.True(named.Code == 0, named.Err);
        Assert.True(new FileInfo(In("named.png")).Length > 1000);
        CliRun.AssertOneLineError(CliRun.Run("plot", In("adam.json"), "--names", "a,b", "--out", In("x.png")), 2, "--names gives 2 names for 1 reports");
        File.WriteAllText(In("not-a-report.json"), "{\"loss\": 1}");
        CliRun.AssertOneLineError(CliRun.Run("plot", In("not-a-report.json"), "--out", In("x.png")), 1, "not a training report");
        CliRun.AssertOneLineError(CliRun.Run("plot", In("adam.json"), "--out", In("x.jpg")), 2, ".png or .svg");
    }

    [Fact]
    public void BadPlotAndTensorBoardPathsFailBeforeTraining()
    {
        var jpg = CliRun.Run("train", "--plot", In("out.jpg"));
        CliRun.AssertOneLineError(jpg, 2, "--plot");
        Assert.Contains("PNG or SVG", jpg.Err);
        Assert.Contains(".png or .svg", jpg.Err);

        // A file where a folder should be: unwritable for root too.
        File.WriteAllText(In("file"), "x");
        foreach (var args in new[] { new[] { "--plot", In("file/p.png") }, ["--tensorboard", In("file/tb")] })
        {
            var run = CliRun.Run(["train", .. args]);
            CliRun.AssertOneLineError(run, 2, args[0]);
            Assert.DoesNotContain("Epoch", run.Out);
        }

        CliRun.AssertOneLineError(CliRun.Run("train", "--carbon-intensity", "-5"), 2, "--carbon-intensity");
        Assert.Single(Directory.GetFileSystemEntries(folder)); // nothing written
    }

    [Fact]
    public void RaplCountsPackagesAndDramAcrossAWrap()
    {
        string root = FakePowercap(package: 1_000_000, dram: 500_000);
        using var fake = new PowercapRoot(root);
        var counters = RaplCounters.Open(out var problem);
        Assert.True(counters is not null, problem);
        var before = counters.Read(out var none)!;
        Assert.Null(none);
        Assert.Equal(["package-0", "dram"], before.Zones.Select(z => z.Name));

        // The package wraps at its range (2,000,000 uJ): 1,000,000 -> 300,000 is 1.3 J; the DRAM adds 0.25 J.
        File.WriteAllText(Path.Combine(root, "intel-rapl:0", "energy_uj"), "300000\n");
        File.WriteAllText(Path.Combine(root, "intel-rapl:0", "intel-rapl:0:1", "energy_uj"), "750000\n");
        // The core and psys zones changed too, and must not count.
        File.WriteAllText(Path.Combine(root, "intel-rapl:0", "intel-rapl:0:0", "energy_uj"), "9000000\n");
        File.WriteAllText(Path.Combine(root, "intel-rapl:1", "energy_uj"), "9000000\n");
        var after = counters.Read(out var unread)!;
        Assert.Null(unread);
        Assert.Equal(1.55, after.JoulesSince(before), 12);
    }

    [Fact]
    public void RaplSaysWhyItHasNoReading()
    {
        using (new PowercapRoot(Directory.CreateDirectory(In("empty")).FullName))
        {
            Assert.Null(RaplCounters.Open(out var problem));
            Assert.Contains("no intel-rapl zones", problem);
        }

        // An energy file that cannot be read (here a folder, unreadable for root too).
        string root = FakePowercap(package: 10, dram: 10);
        string energy = Path.Combine(root, "intel-rapl:0", "energy_uj");
        File.Delete(energy);
        Directory.CreateDirectory(energy);
        using (new PowercapRoot(root))
        {
            Assert.Null(RaplCounters.Open(out var problem));
            Assert.Contains("cannot read", problem);
            Assert.Contains(energy, problem);
        }
    }

    [SkippableFact]
    public void RaplSaysPermissionDenied()
    {
        Skip.If(!OperatingSystem.IsLinux() || Environment.UserName == "root", "root reads any file: a mode cannot deny it");
        string root = FakePowercap(package: 10, dram: 10);
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(Path.Combine(root, "intel-rapl:0", "energy_uj"), UnixFileMode.None);
        using var fake = new PowercapRoot(root);
        Assert.Null(RaplCounters.Open(out var problem));
        Assert.Contains("permission denied", problem);
    }

    [Fact]
    public async Task TheReportCountsRaplJoulesPerEpochPerSampleAndAsCarbon()
    {
        string root = FakePowercap(package: 0, dram: 0);
        string package = Path.Combine(root, "intel-rapl:0", "energy_uj");
        using var fake = new PowercapRoot(root);
        // A counter that rises while the run trains, as a real package's does.
        using var stop = new CancellationTokenSource();
        var ticking = Task.Run(() =>
        {
            for (long uj = 0; !stop.IsCancellationRequested; uj += 1000)
            {
                string next = package + ".next";
                File.WriteAllText(next, $"{uj}\n");
                File.Move(next, package, overwrite: true);
                Thread.Sleep(1);
            }
        });
        var run = CliRun.Run("train", "--epochs", "30", "--report", In("r.json"), "--carbon-intensity", "400");
        stop.Cancel();
        await ticking;
        Assert.True(run.Code == 0, run.Err);

        using var report = JsonDocument.Parse(File.ReadAllText(In("r.json")));
        var energy = report.RootElement.GetProperty("energy");
        Assert.Equal(["rapl"], energy.GetProperty("sources").EnumerateArray().Select(s => s.GetString()));
        double joules = energy.GetProperty("joules").GetDouble();
        double finalCounter = long.Parse(File.ReadAllText(package).Trim()) / 1e6;
        Assert.InRange(joules, 0, finalCounter);
        var epochs = report.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(joules, epochs.Sum(e => e.GetProperty("joules").GetDouble()), 9);
        Assert.Equal(joules, energy.GetProperty("cpu_joules").GetDouble());
        Assert.Equal(JsonValueKind.Null, energy.GetProperty("gpu_joules").ValueKind);
        Assert.Equal(joules / 30, energy.GetProperty("joules_per_epoch").GetDouble(), 12);
        Assert.Equal(joules / (30 * 100), energy.GetProperty("joules_per_sample").GetDouble(), 12);
        Assert.Equal(joules / 3.6e6 * 400, energy.GetProperty("grams_co2").GetDouble(), 12);
        Assert.Contains("RAPL: CPU package and DRAM", run.Out);
        Assert.Contains("g CO2 at 400 g/kWh", run.Out);
    }

    [Fact]
    public void WithoutCountersTheReportSaysWhyAndTheSummaryNamesTheBestEpoch()
    {
        using var fake = new PowercapRoot(Directory.CreateDirectory(In("empty")).FullName);
        var run = CliRun.Run("train", "--epochs", "12", "--report", In("r.json"), "--carbon-intensity", "400");
        Assert.True(run.Code == 0, run.Err);
        using var report = JsonDocument.Parse(File.ReadAllText(In("r.json")));
        var energy = report.RootElement.GetProperty("energy");
        Assert.Equal(JsonValueKind.Null, energy.GetProperty("joules").ValueKind);
        Assert.Equal(JsonValueKind.Null, energy.GetProperty("grams_co2").ValueKind);
        Assert.Contains("no intel-rapl zones", energy.GetProperty("not_measured").GetString());
        Assert.Contains("energy: not measured (CPU: no RAPL counters", run.Out);

        var epochs = report.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var best = epochs.MinBy(e => e.GetProperty("val_loss").GetDouble());
        var result = report.RootElement.GetProperty("result");
        Assert.Equal(best.GetProperty("epoch").GetInt32(), result.GetProperty("best_val_epoch").GetInt32());
        Assert.Equal(best.GetProperty("val_loss").GetDouble(), result.GetProperty("best_val_loss").GetDouble());
        Assert.Contains($"best val loss {best.GetProperty("val_loss").GetDouble():G6} at epoch {best.GetProperty("epoch").GetInt32()}", run.Out);
    }

    // intel-rapl:0 package-0 (range 2 J) with subzones core (not counted) and dram; intel-rapl:1 psys (not counted).
    private string FakePowercap(long package, long dram)
    {
        string root = Directory.CreateDirectory(Path.Combine(folder, $"powercap-{Guid.NewGuid():N}")).FullName;
        Zone(Path.Combine(root, "intel-rapl:0"), "package-0", package, 2_000_000);
        Zone(Path.Combine(root, "intel-rapl:0", "intel-rapl:0:0"), "core", 5, 2_000_000);
        Zone(Path.Combine(root, "intel-rapl:0", "intel-rapl:0:1"), "dram", dram, 65_532_610_987);
        Zone(Path.Combine(root, "intel-rapl:1"), "psys", 5, 2_000_000);
        // The kernel also lists subzones at the top level, as links: the same counters under a second name.
        Directory.CreateSymbolicLink(Path.Combine(root, "intel-rapl:0:1"), Path.Combine(root, "intel-rapl:0", "intel-rapl:0:1"));
        return root;

        static void Zone(string path, string name, long energy, long range)
        {
            Directory.CreateDirectory(path);
            File.WriteAllText(Path.Combine(path, "name"), name + "\n");
            File.WriteAllText(Path.Combine(path, "energy_uj"), $"{energy}\n");
            File.WriteAllText(Path.Combine(path, "max_energy_range_uj"), $"{range}\n");
        }
    }

    private static uint BitwiseCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }

        return ~crc;
    }

    private static uint Masked(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8);

    private sealed record EventRecord(double WallTime, long Step, string? FileVersion, Dictionary<string, float> Values);

    // TFRecords, each CRC checked with the bitwise CRC-32C, and Events read field by field (event.proto's numbers).
    private static List<EventRecord> ReadEvents(byte[] file)
    {
        var events = new List<EventRecord>();
        int at = 0;
        while (at < file.Length)
        {
            var header = file.AsSpan(at, 8);
            Assert.Equal(Masked(BitwiseCrc32C(header)), BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 8)));
            int length = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(header));
            var data = file.AsSpan(at + 12, length).ToArray();
            Assert.Equal(Masked(BitwiseCrc32C(data)), BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(at + 12 + length)));
            events.Add(ParseEvent(data));
            at += 12 + length + 4;
        }

        return events;
    }

    private static EventRecord ParseEvent(byte[] data)
    {
        var input = new CodedInputStream(data);
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new Dictionary<string, float>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: wall = input.ReadDouble(); break;
                case 2: step = input.ReadInt64(); break;
                case 3: version = input.ReadString(); break;
                case 5:
                    var summary = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint t;
                    while ((t = summary.ReadTag()) != 0)
                    {
                        Assert.Equal(1, WireFormat.GetTagFieldNumber(t)); // Summary.value
                        var value = new CodedInputStream(summary.ReadBytes().ToByteArray());
                        string name = "";
                        float number = float.NaN;
                        uint v;
                        while ((v = value.ReadTag()) != 0)
                        {
                            switch (WireFormat.GetTagFieldNumber(v))
                            {
                                case 1: name = value.ReadString(); break;
                                case 2: number = value.ReadFloat(); break; // simple_value
                                default: value.SkipLastField(); break;
                            }
                        }

                        values[name] = number;
                    }

                    break;
                default: input.SkipLastField(); break;
            }
        }

        return new EventRecord(wall, step, version, values);
    }

    /// <summary>Points the RAPL reader at a fake powercap folder for the test's duration.</summary>
    private sealed class PowercapRoot : IDisposable
    {
        private readonly string? saved = Environment.GetEnvironmentVariable(RaplCounters.RootVariable);

        public PowercapRoot(string root) => Environment.SetEnvironmentVariable(RaplCounters.RootVariable, root);

        public void Dispose() => Environment.SetEnvironmentVariable(RaplCounters.RootVariable, saved);
    }
}
