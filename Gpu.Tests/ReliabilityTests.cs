using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gpu.Cli;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>
/// No run may lose or falsify an output, and resume must be exact: outputs never overwrite inputs
/// or each other (paths compared as the OS resolves them), bad output locations are found before
/// training, failed and killed writes keep the old file, a model file holds only finite weights,
/// resumed runs equal straight ones, and hostile files cost little.
/// </summary>
[Collection(EnvironmentCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ReliabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-reliability-").FullName;

    public void Dispose()
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories))
        {
            if (Directory.Exists(path))
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.Delete(folder, recursive: true);
    }

    private string PathOf(string name) => Path.Combine(folder, name);

    private string WriteCsv(string name, int rows = 40, int seed = 1)
    {
        var random = new Random(seed);
        var lines = new List<string> { "a,b,c,y" };
        for (int i = 0; i < rows; i++)
        {
            double a = random.NextDouble(), b = random.NextDouble(), c = random.NextDouble();
            lines.Add(string.Join(",", new[] { a, b, c, a - b + 0.5 * c }.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        }

        string path = PathOf(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    // ---------------------------------------------------------------- outputs against inputs

    public static TheoryData<string, string> OutputInputPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var output in new[] { "--save", "--checkpoint", "--report" })
        {
            foreach (var input in new[] { "--data", "--val", "--init", "--resume" })
            {
                if (!(output == "--checkpoint" && input == "--resume"))
                    data.Add(output, input);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OutputInputPairs))]
    public void EveryOutputIsCheckedAgainstEveryInput(string output, string input)
    {
        var inputs = Inputs();
        string target = inputs[input];
        var before = File.ReadAllBytes(target);
        var args = ArgsFor(inputs, input);
        var result = Run([.. args, output, target]);
        AssertOneLineError(result, 2, $"{output} {target} would overwrite the input file of {input}");
        Assert.Equal(before, File.ReadAllBytes(target));
    }

    [Theory]
    [InlineData("--save", "--checkpoint")]
    [InlineData("--save", "--report")]
    [InlineData("--checkpoint", "--report")]
    public void TwoOutputsOnOnePathAreAUsageError(string first, string second)
    {
        string train = WriteCsv("train.csv");
        string shared = PathOf("out.bin");
        var result = Run("train", "--device", "cpu", "--data", train, "--epochs", "2", first, shared, second, shared);
        AssertOneLineError(result, 2, $"{first} and {second} name the same file");
        Assert.False(File.Exists(shared));
    }

    [Fact]
    public void ACheckpointMayBeContinuedInPlace()
    {
        string train = WriteCsv("train.csv");
        string checkpoint = PathOf("run.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "2", "--checkpoint", checkpoint).Code);
        var resumed = Run("train", "--device", "cpu", "--data", train, "--epochs", "4", "--resume", checkpoint, "--checkpoint", checkpoint);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.Equal("4", SafeTensors.ReadHeader(checkpoint).Metadata["checkpoint_epoch"]);
    }

    [Fact]
    public void PathsAreComparedAsTheOperatingSystemResolvesThem()
    {
        string dataFolder = Directory.CreateDirectory(PathOf("data")).FullName;
        string train = Path.Combine(dataFolder, "train.csv");
        File.Copy(WriteCsv("source.csv"), train);
        var before = File.ReadAllBytes(train);
        string link = PathOf("dir-link");
        Directory.CreateSymbolicLink(link, dataFolder);
        string model = PathOf("m.safetensors");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--save", model).Code);

        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--save", Path.Combine(link, "train.csv")), 2, "would overwrite the input file of --data");
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", model, "--data", train, "--out", Path.Combine(link, "train.csv")), 2, "would overwrite the input file of --data");
        // link/../data/train.csv: ".." is taken after the link is followed, as the OS does.
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", model, "--data", train, "--out", Path.Combine(link, "..", "data", "train.csv")), 2, "would overwrite");
        string fileLink = PathOf("model-link.safetensors");
        File.CreateSymbolicLink(fileLink, model);
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", fileLink, "--data", train, "--out", model), 2, "would overwrite the input file of --model");
        Assert.Equal(before, File.ReadAllBytes(train));
    }

    // ---------------------------------------------------------------- output locations

    [Fact]
    public void AMissingOrInvalidOutputLocationIsFoundBeforeTraining()
    {
        var missing = Run("train", "--device", "cpu", "--save", "/no/such/dir/m.safetensors");
        AssertOneLineError(missing, 1, "cannot write /no/such/dir/m.safetensors: the folder /no/such/dir does not exist");
        Assert.DoesNotContain("Epoch", missing.Out);
        AssertOneLineError(Run("train", "--device", "cpu", "--report", "/"), 1, "cannot write /: it is a folder");
        AssertOneLineError(Run("train", "--device", "cpu", "--checkpoint", folder), 1, "it is a folder");
        Assert.Empty(Directory.EnumerateFiles(folder, "*.tmp", SearchOption.AllDirectories));
    }

    [SkippableFact]
    public void AnUnwritableFolderIsFoundBeforeTrainingEvenForRoot()
    {
        Skip.If(OperatingSystem.IsWindows(), "file modes are a Unix notion");
        string shared = Directory.CreateTempSubdirectory("gpu-unwritable-").FullName;
        try
        {
            File.SetUnixFileMode(shared, (UnixFileMode)Convert.ToInt32("755", 8));
            string locked = Directory.CreateDirectory(Path.Combine(shared, "locked")).FullName;
            File.SetUnixFileMode(locked, (UnixFileMode)Convert.ToInt32("555", 8));
            string target = Path.Combine(locked, "m.safetensors");
            var result = Environment.UserName == "root"
                ? Child.RunAsNobody(["train", "--device", "cpu", "--save", target])
                : Run("train", "--device", "cpu", "--save", target);
            Skip.If(result.Code == Child.Unavailable, "no way to run as an unprivileged user here");
            AssertOneLineError(result, 1, $"cannot write {target}: permission denied in {locked}");
            Assert.DoesNotContain("Epoch", result.Out);
        }
        finally
        {
            foreach (var dir in Directory.EnumerateDirectories(shared))
                File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Directory.Delete(shared, recursive: true);
        }
    }

    [SkippableFact]
    public void AFailedWriteKeepsThePreviousFileAndNamesThePath()
    {
        Skip.If(OperatingSystem.IsWindows(), "ulimit is a Unix notion");
        string model = PathOf("m.safetensors");
        Assert.Equal(0, Run("train", "--device", "cpu", "--epochs", "1", "--save", model).Code);
        var before = File.ReadAllBytes(model);
        // A file-size limit of 1 MiB stands in for a full disk: a 1024-512 MLP needs about 2 MB.
        var result = Child.Run(["train", "--device", "cpu", "--epochs", "1", "--layers", "1024,512", "--save", model], fileSizeLimitKiB: 1024);
        Skip.If(result.Code == Child.Unavailable, "cannot start the CLI as a child process here");
        AssertOneLineError(result, 1, $"could not write {model}: the disk is full or the file exceeds a size limit; any previous file there is unchanged");
        Assert.Equal(before, File.ReadAllBytes(model));
        Assert.Empty(Directory.EnumerateFiles(folder, ".m.safetensors.*.tmp"));
    }

    [SkippableFact]
    public void AKilledWriterLeavesTheOldCheckpointAndTheNextWriteRemovesItsTemporaryFile()
    {
        Skip.If(OperatingSystem.IsWindows(), "kill -9 is a Unix notion");
        string checkpoint = PathOf("big.ckpt");
        // About 12 MB per checkpoint, one per epoch: kill the writer while a temporary file exists.
        using var child = Child.Start(["train", "--device", "cpu", "--layers", "1024,1024", "--epochs", "200", "--checkpoint", checkpoint, "--checkpoint-every", "1"]);
        Skip.If(child is null, "cannot start the CLI as a child process here");
        var clock = Stopwatch.StartNew();
        string[] leftovers = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(60) && !child.HasExited)
        {
            if (Directory.GetFiles(folder, ".big.ckpt.*.tmp").Length > 0 && File.Exists(checkpoint))
            {
                // Freeze the writer, then look again: a write that finished in between (seen once in
                // CI) is let go on, and the next one is caught instead.
                Child.Signal(child, Child.Stop);
                leftovers = Directory.GetFiles(folder, ".big.ckpt.*.tmp");
                if (leftovers.Length > 0)
                    break;
                Child.Signal(child, Child.Continue);
            }

            Thread.Sleep(1);
        }

        child.Kill();
        child.WaitForExit();
        Assert.True(leftovers.Length > 0, "the writer was never caught mid-write");
        Assert.NotEmpty(Directory.GetFiles(folder, ".big.ckpt.*.tmp"));
        var intact = SafeTensors.Read(checkpoint); // the previous checkpoint, whole
        Assert.Contains("optimizer.exp_avg", intact.Tensors.Keys);

        Assert.Equal(0, Run("train", "--device", "cpu", "--epochs", "1", "--checkpoint", checkpoint).Code);
        Assert.Empty(Directory.GetFiles(folder, ".big.ckpt.*.tmp"));
    }

    // ---------------------------------------------------------------- what a model file holds

    [Fact]
    public void TheLastStepOfARunIsCheckedBeforeAnythingIsSaved()
    {
        // Without validation data only the weights show that the one step went wrong.
        string train = WriteCsv("train.csv");
        string model = PathOf("m.safetensors");
        string checkpoint = PathOf("c.ckpt");
        var result = Run("train", "--device", "cpu", "--data", train, "--optimizer", "sgd", "--lr", "1e37", "--epochs", "1", "--save", model, "--checkpoint", checkpoint);
        AssertOneLineError(result, 3, "Training diverged at epoch 0: the weights are no longer finite");
        Assert.False(File.Exists(model));
        Assert.False(File.Exists(checkpoint));
        var validated = Run("train", "--device", "cpu", "--optimizer", "sgd", "--lr", "1e37", "--epochs", "1", "--save", model, "--checkpoint", checkpoint);
        AssertOneLineError(validated, 3, "Training diverged at epoch 0:");
        Assert.False(File.Exists(model));
        Assert.False(File.Exists(checkpoint));
    }

    [Fact]
    public void ResumingAFinishedRunWritesTheOutputsFromTheCheckpoint()
    {
        string train = WriteCsv("train.csv");
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "3", "--checkpoint", checkpoint).Code);
        string model = PathOf("m.safetensors");
        string report = PathOf("r.json");
        File.WriteAllText(model, "stale");
        File.WriteAllText(report, "stale");
        var result = Run("train", "--device", "cpu", "--data", train, "--epochs", "3", "--resume", checkpoint, "--save", model, "--report", report);
        Assert.True(result.Code == 0, result.Err);
        Assert.Contains("Nothing to train", result.Out);
        var saved = SafeTensors.Read(model).Tensors;
        var fromCheckpoint = SafeTensors.Read(checkpoint).Tensors;
        Assert.Equal(fromCheckpoint["0.weight"].Data, saved["0.weight"].Data);
        Assert.StartsWith("{", File.ReadAllText(report));
    }

    // ---------------------------------------------------------------- resume is the same run

    [Fact]
    public void ResumingWithEarlyStoppingEqualsTheStraightRunByteForByte()
    {
        string train = WriteCsv("train.csv", 60, 2);
        string[] common = ["train", "--device", "cpu", "--data", train, "--val-split", "0.3", "--batch-size", "8", "--lr", "0.05", "--patience", "3", "--epochs", "200"];
        string straight = PathOf("straight.safetensors");
        var first = Run([.. common, "--save", straight]);
        Assert.True(first.Code == 0, first.Err);
        Assert.Contains("Stopped early after epoch", first.Out);
        int stopped = int.Parse(first.Out.Split("Stopped early after epoch ")[1].Split(':')[0], CultureInfo.InvariantCulture);
        Assert.True(stopped >= 6, first.Out);

        // Checkpoint a few epochs before the stop, where the patience counter is already running.
        string checkpoint = PathOf("c.ckpt");
        int at = stopped - 2;
        Assert.Equal(0, Run([.. common[..^2], "--epochs", at.ToString(CultureInfo.InvariantCulture), "--checkpoint", checkpoint]).Code);
        string resumed = PathOf("resumed.safetensors");
        var second = Run([.. common, "--resume", checkpoint, "--save", resumed]);
        Assert.True(second.Code == 0, second.Err);
        Assert.Contains($"Stopped early after epoch {stopped}:", second.Out);
        var a = SafeTensors.Read(straight).Tensors;
        var b = SafeTensors.Read(resumed).Tensors;
        foreach (var (name, tensor) in a)
            Assert.Equal(tensor.Data, b[name].Data);
    }

    [Theory]
    [InlineData("--optimizer", "sgd", "--optimizer sgd contradicts", "trained with --optimizer adam")]
    [InlineData("--lr", "0.5", "--lr 0.5 contradicts", "trained with --lr 0.001")]
    [InlineData("--weight-decay", "0.1", "--weight-decay 0.1 contradicts", "trained with --weight-decay 0")]
    [InlineData("--l2", "0.01", "--l2 0.01 contradicts", "trained with --l2 0")]
    public void FlagsThatContradictTheCheckpointAreErrorsNamingBothValues(string flag, string value, string given, string saved)
    {
        string train = WriteCsv("train.csv");
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "2", "--checkpoint", checkpoint).Code);
        var result = Run("train", "--device", "cpu", "--data", train, "--epochs", "4", "--resume", checkpoint, flag, value);
        AssertOneLineError(result, 2, given);
        Assert.Contains(saved, result.Err);
    }

    [Theory]
    [InlineData("null", "malformed")]
    [InlineData("{\"Beta1\":0.9}", "missing Lr")]
    [InlineData("{\"Lr\":-1,\"Beta1\":0.9,\"Beta2\":0.999,\"Eps\":1e-8,\"WeightDecay\":0,\"Amsgrad\":false,\"L1\":0,\"L2\":0}", "lr must be")]
    public void CheckpointsWithMissingOrMalformedOptimizerStateAreRejected(string options, string problem)
    {
        string train = WriteCsv("train.csv");
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "2", "--lr", "0.05", "--checkpoint", checkpoint).Code);
        var file = SafeTensors.Read(checkpoint);
        var metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        metadata["optimizer_options"] = options;
        string broken = PathOf("broken.ckpt");
        SafeTensors.Write(broken, file.Tensors.Values, metadata);
        var result = Run("train", "--device", "cpu", "--data", train, "--epochs", "4", "--resume", broken);
        AssertOneLineError(result, 1, "optimizer_options for adam are malformed");
        Assert.Contains(problem, result.Err);

        metadata = file.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        SafeTensors.Write(broken, file.Tensors.Values.Where(t => t.Name != "optimizer.exp_avg_sq"), metadata);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--epochs", "4", "--resume", broken), 1, "optimizer state 'optimizer.exp_avg_sq' is missing");
        metadata["checkpoint_epoch"] = "-3";
        SafeTensors.Write(broken, file.Tensors.Values, metadata);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--epochs", "4", "--resume", broken), 1, "its checkpoint_epoch '-3' is not a whole number of epochs >= 0");
    }

    // ---------------------------------------------------------------- hostile files cost little

    [Fact]
    public void AFileClaimingAHugeLayerIsRejectedBeforeAnythingIsAllocated()
    {
        string path = PathOf("huge.safetensors");
        var metadata = new Dictionary<string, string>
        {
            ["architecture"] = "[{\"type\":\"Linear\",\"in_features\":3,\"out_features\":20000000,\"bias\":true}]",
            ["feature_names"] = "[\"a\",\"b\",\"c\"]",
            ["target_names"] = "[\"y\"]",
        };
        SafeTensors.Write(path, [new NamedTensor("0.weight", [2, 3], new float[6]), new NamedTensor("0.bias", [2], new float[2])], metadata);
        Assert.True(new FileInfo(path).Length < 1024);
        using var device = Gpu.Runtime.Device.CreateCpu();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ArgumentException>(() => ModelFile.Load(path, device));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("'0.weight' has shape (2, 3) but the model expects (20000000, 3)", error.Message);
        Assert.True(allocated < 1 << 20, $"rejecting it allocated {allocated} bytes");
    }

    [Fact]
    public void AHeaderLengthBeyondTheLimitIsRejectedAfterEightBytes()
    {
        string path = PathOf("claims.safetensors");
        using (var file = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, 1UL << 40);
            file.Write(prefix);
            file.SetLength(512L << 20); // sparse: 512 MB that are never read
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("the header length 1099511627776 exceeds the limit", error.Message);
        Assert.True(allocated < 1 << 20, $"rejecting it allocated {allocated} bytes");
    }

    [Fact]
    public void FilesOverTwoGigabytesRoundTrip()
    {
        // Two tensors of 1.1 GB each (a file of 2.2 GB): written and read back in chunks. Both are
        // written from one array, so the test holds at most one 1.1 GB array at a time.
        string path = PathOf("big.safetensors");
        const int count = 275_000_000;
        var data = new float[count];
        data[0] = 1.5f;
        data[count / 2] = 3.25f;
        data[^1] = -2.5f;
        try
        {
            SafeTensors.Write(path, [new NamedTensor("a", [count], data), new NamedTensor("b", [count], data)]);
            Assert.True(new FileInfo(path).Length > 2L << 30);
            // One tensor at a time, each read in its own frame so that it is garbage when the next is
            // read: the test never holds more than one 1.1 GB array (b lies past 2 GiB).
            var header = SafeTensors.ReadHeader(path);
            Assert.Equal((1.5f, 3.25f, -2.5f), Sample(header, "a", count));
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            Assert.Equal((1.5f, 3.25f, -2.5f), Sample(header, "b", count)); // the file's last bytes, past 2 GiB
        }
        finally
        {
            File.Delete(path);
        }
    }

    // The first, middle and last values of one tensor; the array dies with this frame.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (float First, float Middle, float Last) Sample(SafeTensorsHeader header, string name, int count)
    {
        var values = SafeTensors.ReadTensors(header, n => n == name)[name].Data;
        return (values[0], values[count / 2], values[^1]);
    }

    // ---------------------------------------------------------------- valid input, clear messages

    [Fact]
    public void ACsvWithTwoThousandColumnsParses()
    {
        string path = PathOf("wide.csv");
        var header = string.Join(",", Enumerable.Range(0, 2000).Select(i => $"feature_{i}")) + ",y";
        var row = string.Join(",", Enumerable.Range(0, 2001).Select(i => (i * 0.001234567).ToString("R", CultureInfo.InvariantCulture)));
        File.WriteAllLines(path, [header, row, row, row]);
        Assert.True(row.Length > 20_000);
        var data = DataLoader.Load(path);
        Assert.Equal(2000, data.FeatureCount);
        Assert.Equal(3, data.Count);
    }

    [Fact]
    public void AnOutOfRangeClassLabelIsNamedAsSuch()
    {
        string path = PathOf("labels.csv");
        File.WriteAllLines(path, ["a,label", "0.5,0", "0.25,3000000000", "1,1"]);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path, "--loss", "ce", "--epochs", "1"), 2, "row 2 of the training data holds 3E+09, a value too large for a class index");
    }

    [Fact]
    public void AModelFileWithoutArchitectureOrTensorsSaysWhatItHolds()
    {
        string empty = PathOf("empty.safetensors");
        SafeTensors.Write(empty, []);
        string data = WriteCsv("x.csv");
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", empty, "--data", data), 1, "it holds no tensors and no architecture");
        string weightsOnly = PathOf("weights.safetensors");
        SafeTensors.Write(weightsOnly, [new NamedTensor("0.weight", [1, 3], new float[3])]);
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", weightsOnly, "--data", data), 1, "it holds 1 tensors but no architecture");
    }

    // Everything a `train` needs for each input flag, so that one flag's path can be reused as an output.
    private Dictionary<string, string> Inputs()
    {
        string train = WriteCsv("train.csv");
        string val = WriteCsv("val.csv", 10, 3);
        string init = PathOf("init.safetensors");
        string resume = PathOf("resume.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--save", init).Code);
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--checkpoint", resume).Code);
        return new() { ["--data"] = train, ["--val"] = val, ["--init"] = init, ["--resume"] = resume };
    }

    private static string[] ArgsFor(Dictionary<string, string> inputs, string input) => input switch
    {
        "--val" => ["train", "--device", "cpu", "--data", inputs["--data"], "--val", inputs["--val"], "--epochs", "2"],
        "--init" => ["train", "--device", "cpu", "--data", inputs["--data"], "--init", inputs["--init"], "--epochs", "2"],
        "--resume" => ["train", "--device", "cpu", "--data", inputs["--data"], "--resume", inputs["--resume"], "--epochs", "2"],
        _ => ["train", "--device", "cpu", "--data", inputs["--data"], "--epochs", "2"],
    };
}

/// <summary>The CLI as a child process (`dotnet gpu.dll ...`): for kills, file-size limits and another user.</summary>
internal static class Child
{
    /// <summary>The exit code reported when a child cannot be started here.</summary>
    public const int Unavailable = -1000;

    /// <summary>SIGSTOP and SIGCONT (their numbers differ between Linux and macOS).</summary>
    public static readonly int Stop = OperatingSystem.IsMacOS() ? 17 : 19, Continue = OperatingSystem.IsMacOS() ? 19 : 18;

    /// <summary>Sends a Unix signal to the child.</summary>
    public static void Signal(Process child, int signal)
    {
        if (kill(child.Id, signal) != 0)
            throw new InvalidOperationException($"kill({child.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    private static string Program => Path.Combine(AppContext.BaseDirectory, "gpu.dll");

    public static Process? Start(string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Program);
        foreach (var a in args)
            info.ArgumentList.Add(a);
        info.Environment["TERM"] = "dumb";
        try
        {
            return Process.Start(info);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Runs the CLI under `ulimit -f` when a limit is given.</summary>
    public static (int Code, string Out, string Err) Run(string[] args, int? fileSizeLimitKiB = null)
    {
        string command = string.Join(" ", new[] { "exec", "dotnet", Quote(Program) }.Concat(args.Select(Quote)));
        if (fileSizeLimitKiB is { } limit)
            command = $"ulimit -f {limit}; {command}";
        // The runtime's W^X double mapping sizes a memory file beyond small limits; without it the
        // runtime starts under `ulimit -f` and only the program's own writes meet the limit.
        return Shell(command, new() { ["DOTNET_EnableWriteXorExecute"] = "0" });
    }

    /// <summary>
    /// Runs the CLI as the unprivileged user 'nobody' (the test runs as root); <see cref="Unavailable"/>
    /// when that user cannot run it from here (no setpriv, or the build lies in a folder only root reads).
    /// </summary>
    public static (int Code, string Out, string Err) RunAsNobody(string[] args)
    {
        if (!File.Exists("/usr/bin/setpriv"))
            return (Unavailable, "", "");
        string AsNobody(IEnumerable<string> a) =>
            string.Join(" ", new[] { "exec", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", Quote(Program) }.Concat(a.Select(Quote)));
        var environment = new Dictionary<string, string> { ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp" };
        if (Shell(AsNobody(["--help"]), environment).Code != 0)
            return (Unavailable, "", "");
        return Shell(AsNobody(args), environment);
    }

    private static (int Code, string Out, string Err) Shell(string command, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        info.Environment["TERM"] = "dumb";
        foreach (var (key, value) in environment)
            info.Environment[key] = value;
        try
        {
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(120_000))
            {
                process.Kill();
                return (Unavailable, "", "timed out");
            }

            return (process.ExitCode, output.Result, error.Result);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (Unavailable, "", "");
        }
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
