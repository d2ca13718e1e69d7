using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MpiCollection
{
    public const string Name = "mpi";
}

/// <summary>
/// Data-parallel training under real MPI launchers (Open MPI's mpirun, MPICH's mpiexec), running
/// the built CLI: N ranks give the losses and weights of one process with the same global batch
/// (full batch, shuffled mini-batches with an uneven last batch, MSE and cross-entropy), reruns are
/// byte-identical, a failing rank stops the job, and ranks that disagree are caught before
/// training. MPI traffic stays on this machine (shared memory and loopback) and every launch is
/// bounded by a timeout. Skipped, with the reason, where no launcher is installed (.ci/run installs
/// Open MPI and MPICH).
/// </summary>
[Collection(MpiCollection.Name)]
public sealed class DistributedTests : IDisposable
{
    private const int TimeoutSeconds = 120;
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-mpi-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private static string Program => Path.Combine(AppContext.BaseDirectory, "gpu.dll");

    public static TheoryData<int, string, int> EquivalenceCases()
    {
        var data = new TheoryData<int, string, int>();
        foreach (int ranks in new[] { 2, 3 })
            foreach (var loss in new[] { "mse", "ce" })
                foreach (int batch in new[] { 0, 16 }) // full batch; 70 rows in batches of 16: the last has 6
                    data.Add(ranks, loss, batch);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(EquivalenceCases))]
    public void RanksGiveTheLossesAndWeightsOfOneProcess(int ranks, string loss, int batch)
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin; .ci/run does)");
        string data = WriteData(loss, 70, 1);
        string validation = WriteData(loss, 23, 2);
        string[] flags = ["train", "--device", "cpu", "--data", data, "--val", validation, "--loss", loss, "--epochs", "20",
            "--batch-size", batch.ToString(CultureInfo.InvariantCulture), "--lr", "0.01", "--layers", "16,8", "--seed", "3"];
        var single = Launcher.Single([.. flags, "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]);
        Assert.True(single.Code == 0, single.Err);
        var job = Launcher.Mpi(Launcher.OpenMpi!, ranks, [.. flags, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(job.Code == 0, $"mpirun exited {job.Code}: {job.Err}");
        AssertSameRun(PathOf("one.json"), PathOf("n.json"), PathOf("one.safetensors"), PathOf("n.safetensors"), ranks);
        Assert.Single(job.Out.Split('\n'), l => l.StartsWith("Trained ", StringComparison.Ordinal)); // rank 0 alone prints
    }

    /// <summary>
    /// The toolkit under MPI: accumulation (the all-reduce once per optimizer step, each rank's
    /// batches weighted by its rows of the step), clipping of the summed gradient, an L1 penalty
    /// and a warmup-cosine schedule give the losses and weights of one process; a batch of 8 over 3
    /// ranks leaves a rank 2 rows of each.
    /// </summary>
    [SkippableTheory]
    [InlineData(2)]
    [InlineData(3)]
    public void RanksAccumulateClipAndScheduleAsOneProcess(int ranks)
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin; .ci/run does)");
        string data = WriteData("mse", 70, 6);
        string validation = WriteData("mse", 23, 7);
        string[] flags = ["train", "--device", "cpu", "--data", data, "--val", validation, "--epochs", "6", "--batch-size", "8", "--accumulate", "3",
            "--clip-grad-norm", "0.5", "--l1", "0.001", "--lr-schedule", "cosine(min=0.0001,warmup=4)", "--optimizer", "adamw", "--lr", "0.02",
            "--layers", "16", "--seed", "4"];
        var single = Launcher.Single([.. flags, "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]);
        Assert.True(single.Code == 0, single.Err);
        var job = Launcher.Mpi(Launcher.OpenMpi!, ranks, [.. flags, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(job.Code == 0, $"mpirun exited {job.Code}: {job.Err}");
        AssertSameRun(PathOf("one.json"), PathOf("n.json"), PathOf("one.safetensors"), PathOf("n.safetensors"), ranks);
        using var one = JsonDocument.Parse(File.ReadAllText(PathOf("one.json")));
        using var all = JsonDocument.Parse(File.ReadAllText(PathOf("n.json")));
        var a = one.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var b = all.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        for (int e = 0; e < a.Count; e++)
        {
            Assert.Equal(a[e].GetProperty("lr").GetDouble(), b[e].GetProperty("lr").GetDouble());
            Numerics.AssertClose(a[e].GetProperty("grad_norm").GetDouble(), b[e].GetProperty("grad_norm").GetDouble(), 1e-7, 1e-5, $"epoch {e} gradient norm on {ranks} ranks");
        }
    }

    /// <summary>
    /// A byte-level LSTM language model from --text, shuffled windows, on two ranks: the losses and
    /// weights of one process. SGD, whose step is linear in the gradient: Adam divides a rare byte's
    /// tiny gradient by its own size, which turns the all-reduce's float32 summation order into
    /// 1e-4 relative differences in that byte's weights.
    /// </summary>
    [SkippableFact]
    public void RanksTrainALanguageModelAsOneProcess()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin; .ci/run does)");
        string[] flags = ["train", "--device", "cpu", "--text", Fixture.PathOf("sequence_text.txt"), "--context", "16", "--loss", "ce", "--val-split", "0.1",
            "--model", "embedding(8),lstm(16),linear(256)", "--epochs", "2", "--batch-size", "10", "--optimizer", "sgd", "--lr", "0.5", "--momentum", "0.9", "--seed", "3"];
        var single = Launcher.Single([.. flags, "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]);
        Assert.True(single.Code == 0, single.Err);
        var job = Launcher.Mpi(Launcher.OpenMpi!, 2, [.. flags, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(job.Code == 0, $"mpirun exited {job.Code}: {job.Err}");
        AssertSameRun(PathOf("one.json"), PathOf("n.json"), PathOf("one.safetensors"), PathOf("n.safetensors"), 2);
    }

    /// <summary>
    /// Two ranks on one machine: rank 0 alone writes the TensorBoard file and the plot; the machine's
    /// RAPL counters are read (by local rank 0) and the ranks' energy is summed into the report.
    /// </summary>
    [SkippableFact]
    public void RankZeroWritesTheObservationsAndTheEnergyIsSummed()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin; .ci/run does)");
        string powercap = Directory.CreateDirectory(PathOf("powercap/intel-rapl:0")).FullName;
        File.WriteAllText(Path.Combine(powercap, "name"), "package-0\n");
        File.WriteAllText(Path.Combine(powercap, "energy_uj"), "12345\n");
        File.WriteAllText(Path.Combine(powercap, "max_energy_range_uj"), "262143328850\n");
        var job = Launcher.Mpi(Launcher.OpenMpi!, 2,
            ["train", "--device", "cpu", "--epochs", "3", "--tensorboard", PathOf("tb"), "--plot", PathOf("curves.png"), "--report", PathOf("r.json"), "--carbon-intensity", "300"],
            new() { [RaplCounters.RootVariable] = Path.GetDirectoryName(powercap)!, ["TERM"] = "xterm" });
        Assert.True(job.Code == 0, $"mpirun exited {job.Code}: {job.Err}");
        // mpirun gives ranks a terminal: still no control code reaches its redirected output.
        Assert.DoesNotContain('\u001b', job.Out);
        Assert.StartsWith("Device (rank 0 of 2", job.Out);
        var events = Assert.Single(Directory.GetFiles(PathOf("tb")));
        Assert.True(new FileInfo(events).Length > 100);
        Assert.True(File.Exists(PathOf("curves.png")));
        using var report = JsonDocument.Parse(File.ReadAllText(PathOf("r.json")));
        var energy = report.RootElement.GetProperty("energy");
        Assert.Equal(["rapl"], energy.GetProperty("sources").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(0.0, energy.GetProperty("joules").GetDouble()); // a counter that did not move
        Assert.Equal(0.0, energy.GetProperty("grams_co2").GetDouble());
        Assert.All(report.RootElement.GetProperty("epochs").EnumerateArray(), e => Assert.Equal(0.0, e.GetProperty("joules").GetDouble()));
    }

    /// <summary>
    /// A two-block GPT (attention, residual blocks, layer norm) on two ranks, with warmup, cosine decay
    /// and clipping: the losses and weights of one process (SGD, for the reason above).
    /// </summary>
    [SkippableFact]
    public void RanksTrainAGptAsOneProcess()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin; .ci/run does)");
        string block = "residual(layernorm,attention(2)),residual(layernorm,linear(32),gelu(tanh),linear(8))";
        string[] flags = ["train", "--device", "cpu", "--text", Fixture.PathOf("sequence_text.txt"), "--context", "16", "--loss", "ce", "--val-split", "0.1",
            "--model", $"embedding(8),posembedding,{block},{block},layernorm,linear(256)", "--epochs", "2", "--batch-size", "10",
            "--optimizer", "sgd", "--lr", "0.3", "--momentum", "0.9", "--lr-schedule", "cosine(warmup=4)", "--clip-grad-norm", "1", "--seed", "5"];
        var single = Launcher.Single([.. flags, "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]);
        Assert.True(single.Code == 0, single.Err);
        var job = Launcher.Mpi(Launcher.OpenMpi!, 2, [.. flags, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(job.Code == 0, $"mpirun exited {job.Code}: {job.Err}");
        AssertSameRun(PathOf("one.json"), PathOf("n.json"), PathOf("one.safetensors"), PathOf("n.safetensors"), 2);
    }

    [SkippableFact]
    public void MpichRunsTheSameJob()
    {
        Skip.If(Launcher.Mpich is null, "MPICH's mpiexec.mpich is not installed (apt-get install mpich; .ci/run does)");
        string data = WriteData("mse", 50, 4);
        string[] flags = ["train", "--device", "cpu", "--data", data, "--val-split", "0.2", "--epochs", "20", "--batch-size", "8", "--lr", "0.01"];
        Assert.Equal(0, Launcher.Single([.. flags, "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]).Code);
        var job = Launcher.Mpi(Launcher.Mpich!, 2, [.. flags, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(job.Code == 0, $"mpiexec.mpich exited {job.Code}: {job.Err}");
        AssertSameRun(PathOf("one.json"), PathOf("n.json"), PathOf("one.safetensors"), PathOf("n.safetensors"), 2);
        using var report = JsonDocument.Parse(File.ReadAllText(PathOf("n.json")));
        Assert.StartsWith("MPICH", report.RootElement.GetProperty("ranks").GetProperty("mpi").GetString());
    }

    [SkippableFact]
    public void ARerunWithTheSameRanksIsByteIdentical()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed");
        string data = WriteData("mse", 61, 5);
        string[] flags = ["train", "--device", "cpu", "--data", data, "--epochs", "8", "--batch-size", "10", "--lr", "0.01", "--layers", "32"];
        Assert.Equal(0, Launcher.Mpi(Launcher.OpenMpi!, 3, [.. flags, "--save", PathOf("a.safetensors")]).Code);
        Assert.Equal(0, Launcher.Mpi(Launcher.OpenMpi!, 3, [.. flags, "--save", PathOf("b.safetensors")]).Code);
        Assert.Equal(File.ReadAllBytes(PathOf("a.safetensors")), File.ReadAllBytes(PathOf("b.safetensors")));
    }

    [SkippableFact]
    public void AJobResumesWithAnotherNumberOfRanks()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed");
        string data = WriteData("mse", 48, 6);
        string[] flags = ["train", "--device", "cpu", "--data", data, "--batch-size", "12", "--lr", "0.01", "--seed", "1"];
        Assert.Equal(0, Launcher.Single([.. flags, "--epochs", "10", "--report", PathOf("one.json"), "--save", PathOf("one.safetensors")]).Code);
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Launcher.Mpi(Launcher.OpenMpi!, 2, [.. flags, "--epochs", "5", "--checkpoint", checkpoint]).Code);
        var resumed = Launcher.Mpi(Launcher.OpenMpi!, 3, [.. flags, "--epochs", "10", "--resume", checkpoint, "--report", PathOf("n.json"), "--save", PathOf("n.safetensors")]);
        Assert.True(resumed.Code == 0, resumed.Err);
        var a = SafeTensors.Read(PathOf("one.safetensors")).Tensors;
        var b = SafeTensors.Read(PathOf("n.safetensors")).Tensors;
        foreach (var (name, tensor) in a)
            Numerics.AssertClose(tensor.Data, b[name].Data, 1e-6, 1e-5, $"resumed on 3 ranks: {name}");
    }

    [SkippableFact]
    public void AFailingRankStopsTheWholeJobWithinSecondsAndNamesItself()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed");
        string good = WriteData("mse", 40, 7);
        string model = PathOf("m.safetensors");
        var clock = Stopwatch.StartNew();
        // Rank 1 is given a file that does not exist (mpirun's MPMD form: one command per rank).
        var job = Launcher.Mpmd(Launcher.OpenMpi!,
            ["train", "--device", "cpu", "--data", good, "--epochs", "100000", "--save", model],
            ["train", "--device", "cpu", "--data", PathOf("missing.csv"), "--epochs", "100000", "--save", model]);
        Assert.NotEqual(0, job.Code);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the job took {clock.Elapsed}");
        Assert.Contains($"error: rank 1 of 2: {PathOf("missing.csv")}: no such file", job.Err);
        Assert.False(File.Exists(model));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [SkippableFact]
    public void RanksThatDisagreeOnTheDataAreCaughtBeforeTraining()
    {
        Skip.If(Launcher.OpenMpi is null, "Open MPI's mpirun is not installed");
        string a = WriteData("mse", 40, 8);
        string b = WriteData("mse", 39, 9);
        var job = Launcher.Mpmd(Launcher.OpenMpi!,
            ["train", "--device", "cpu", "--data", a, "--epochs", "5"],
            ["train", "--device", "cpu", "--data", b, "--epochs", "5"]);
        Assert.NotEqual(0, job.Code);
        Assert.Contains("ranks disagree on the data or configuration: rank 0 has 'data 40x3->1", job.Err);
        Assert.Contains("rank 1 has 'data 39x3->1", job.Err);
        Assert.DoesNotContain("Epoch 0", job.Out);
    }

    [Fact]
    public void AMissingMpiLibraryIsAClearError()
    {
        // As if launched by mpirun on a machine without Open MPI's library.
        var result = Launcher.Single(["train", "--device", "cpu", "--epochs", "1"],
            new() { ["OMPI_COMM_WORLD_SIZE"] = "2", ["GPU_MPI_LIBRARY"] = "/nonexistent/libmpi.so.40" });
        Assert.Equal(1, result.Code);
        Assert.Contains("/nonexistent/libmpi.so.40 cannot be loaded: install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev", result.Err);
        Assert.Contains("--distributed off", result.Err);
        var off = Launcher.Single(["train", "--device", "cpu", "--epochs", "1", "--distributed", "off"],
            new() { ["OMPI_COMM_WORLD_SIZE"] = "2", ["GPU_MPI_LIBRARY"] = "/nonexistent/libmpi.so.40" });
        Assert.True(off.Code == 0, off.Err);
    }

    private static void AssertSameRun(string oneReport, string jobReport, string oneModel, string jobModel, int ranks)
    {
        using var one = JsonDocument.Parse(File.ReadAllText(oneReport));
        using var job = JsonDocument.Parse(File.ReadAllText(jobReport));
        Assert.Equal(ranks, job.RootElement.GetProperty("ranks").GetProperty("world_size").GetInt32());
        Assert.Equal(ranks, job.RootElement.GetProperty("ranks").GetProperty("devices").GetArrayLength());
        var a = one.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var b = job.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(a.Count, b.Count);
        for (int e = 0; e < a.Count; e++)
        {
            Numerics.AssertClose(a[e].GetProperty("loss").GetDouble(), b[e].GetProperty("loss").GetDouble(), 1e-7, 1e-5, $"epoch {e} loss on {ranks} ranks");
            if (a[e].GetProperty("val_loss").ValueKind == JsonValueKind.Number)
                Numerics.AssertClose(a[e].GetProperty("val_loss").GetDouble(), b[e].GetProperty("val_loss").GetDouble(), 1e-7, 1e-5, $"epoch {e} val loss on {ranks} ranks");
        }

        var wa = SafeTensors.Read(oneModel).Tensors;
        var wb = SafeTensors.Read(jobModel).Tensors;
        foreach (var (name, tensor) in wa)
            Numerics.AssertClose(tensor.Data, wb[name].Data, 1e-6, 1e-5, $"final {name} on {ranks} ranks");
    }

    // Three features; y a smooth function (mse) or one of three classes (ce).
    private string WriteData(string loss, int rows, int seed)
    {
        var random = new Random(seed);
        var lines = new List<string> { "a,b,c,y" };
        for (int i = 0; i < rows; i++)
        {
            double a = random.NextDouble() * 2 - 1, b = random.NextDouble() * 2 - 1, c = random.NextDouble() * 2 - 1;
            double y = loss == "ce" ? (a + b > 0.5 ? 2 : a - c > 0 ? 1 : 0) : Math.Sin(2 * a) + b * c;
            lines.Add(string.Join(",", new[] { a, b, c, y }.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        }

        string path = PathOf($"{loss}-{rows}-{seed}.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>Starts the built CLI alone, under mpirun or under mpiexec.mpich, with MPI kept on this machine.</summary>
    private static class Launcher
    {
        public static string? OpenMpi { get; } = Find("mpirun.openmpi") ?? FindOpenMpiDefault();

        public static string? Mpich { get; } = Find("mpiexec.mpich");

        public static (int Code, string Out, string Err) Single(string[] args, Dictionary<string, string>? environment = null) =>
            Run("dotnet", [Program, .. args], environment ?? []);

        public static (int Code, string Out, string Err) Mpi(string launcher, int ranks, string[] args, Dictionary<string, string>? extra = null)
        {
            string[] options = launcher == Mpich
                ? ["-n", ranks.ToString(CultureInfo.InvariantCulture)]
                : ["--oversubscribe", "--timeout", TimeoutSeconds.ToString(CultureInfo.InvariantCulture), "-np", ranks.ToString(CultureInfo.InvariantCulture)];
            var environment = Environment();
            foreach (var (key, value) in extra ?? [])
                environment[key] = value;
            return Run(launcher, [.. options, "dotnet", Program, .. args], environment);
        }

        // One command per rank (mpirun's multiple-program form).
        public static (int Code, string Out, string Err) Mpmd(string launcher, string[] first, string[] second) =>
            Run(launcher, ["--oversubscribe", "--timeout", TimeoutSeconds.ToString(CultureInfo.InvariantCulture), "-np", "1", "dotnet", Program, .. first, ":", "-np", "1", "dotnet", Program, .. second], Environment());

        // Shared memory and loopback only, allowed as root (CI), plain output on mpirun's ptys.
        private static Dictionary<string, string> Environment() => new()
        {
            ["OMPI_MCA_btl"] = "self,vader",
            ["OMPI_MCA_oob_tcp_if_include"] = "lo",
            ["OMPI_ALLOW_RUN_AS_ROOT"] = "1",
            ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1",
            ["MPIEXEC_TIMEOUT"] = TimeoutSeconds.ToString(CultureInfo.InvariantCulture),
            ["HYDRA_IFACE"] = "lo",
            ["TERM"] = "dumb",
        };

        private static (int Code, string Out, string Err) Run(string file, string[] args, Dictionary<string, string> environment)
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
                info.ArgumentList.Add(a);
            info.Environment["TERM"] = "dumb";
            foreach (var (key, value) in environment)
                info.Environment[key] = value;
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit((TimeoutSeconds + 30) * 1000))
            {
                process.Kill(entireProcessTree: true);
                return (-1, output.Result, $"{file} did not finish in {TimeoutSeconds + 30} s; killed. {error.Result}");
            }

            process.WaitForExit();
            return (process.ExitCode, output.Result, error.Result);
        }

        private static string? Find(string name) =>
            (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

        // A plain `mpirun` counts when it is Open MPI's.
        private static string? FindOpenMpiDefault()
        {
            string? mpirun = Find("mpirun");
            if (mpirun is null)
                return null;
            var version = Run(mpirun, ["--version"], []);
            return version.Out.Contains("Open MPI", StringComparison.Ordinal) ? mpirun : null;
        }
    }
}
