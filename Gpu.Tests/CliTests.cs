using System.Globalization;
using System.Text.Json;
using Gpu.Cli;
using Gpu.Runtime;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>The command-line program, driven in-process: the main job, files in and out, and every bad input.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class CliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    /// <summary>A regression CSV: y = 2 a - b + 0.5 c + noise.</summary>
    private string WriteCsv(string name, int rows, int seed, bool withTarget = true)
    {
        var random = new Random(seed);
        var lines = new List<string> { withTarget ? "a,b,c,y" : "a,b,c" };
        for (int i = 0; i < rows; i++)
        {
            double a = random.NextDouble() * 2 - 1, b = random.NextDouble() * 2 - 1, c = random.NextDouble() * 10;
            double y = 2 * a - b + 0.05 * c + 0.01 * (random.NextDouble() - 0.5);
            var cells = new List<double> { a, b, c };
            if (withTarget)
                cells.Add(y);
            lines.Add(string.Join(",", cells.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        }

        string path = PathOf(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void DefaultTrainRunsTheReferenceExample()
    {
        var (code, output, error) = Run("train", "--device", "cpu");
        Assert.True(code == 0, error);
        var epochLines = output.Split('\n').Where(l => l.StartsWith("Epoch ", StringComparison.Ordinal)).ToList();
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => i * 10), 99], epochLines.Select(l => int.Parse(l.Split(',')[0][6..], CultureInfo.InvariantCulture)));
        Assert.All(epochLines, l => Assert.Matches(@"^Epoch \d+, Loss: [0-9.eE+-]+, Val Loss: [0-9.eE+-]+$", l.TrimEnd()));
        Assert.Contains("Device: cpu", output);
        Assert.Matches(@"Trained 100 epochs \(100 steps, 10000 samples\) on cpu .* steps/s, \d+ samples/s", output);
    }

    [Fact]
    public void CsvTrainingSavesAModelThatPredictRebuilds()
    {
        string train = WriteCsv("train.csv", 200, 1);
        string test = WriteCsv("test.csv", 31, 2, withTarget: false);
        string model = PathOf("model.safetensors");
        var trained = Run("train", "--device", "cpu", "--data", train, "--val-split", "0.2", "--layers", "16,8", "--epochs", "60",
            "--batch-size", "32", "--lr", "0.01", "--standardize", "--save", model);
        Assert.True(trained.Code == 0, trained.Err);
        Assert.True(File.Exists(model));

        var file = SafeTensors.Read(model);
        Assert.Equal("3,16,8,1", file.Metadata["layers"]);
        Assert.Equal("[\"a\",\"b\",\"c\"]", file.Metadata["feature_names"]);
        Assert.Contains("standardize_mean", file.Metadata.Keys);

        string predictions = PathOf("predictions.csv");
        var predicted = Run("predict", "--device", "cpu", "--model", model, "--data", test, "--out", predictions);
        Assert.True(predicted.Code == 0, predicted.Err);
        var lines = File.ReadAllLines(predictions);
        Assert.Equal("y", lines[0]);
        Assert.Equal(32, lines.Length);

        // The model learnt the relation: predictions track 2a - b + 0.05c.
        var inputs = File.ReadAllLines(test).Skip(1).Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        double error = inputs.Select((x, i) => Math.Abs(double.Parse(lines[i + 1], CultureInfo.InvariantCulture) - (2 * x[0] - x[1] + 0.05 * x[2]))).Average();
        Assert.True(error < 0.2, $"mean absolute error {error}");

        // To stdout without --out, and the target column may be present in the input.
        var again = Run("predict", "--device", "cpu", "--model", model, "--data", train);
        Assert.Equal(0, again.Code);
        Assert.Equal(201, again.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void PartFilesAndParquetTrainAndPredictLikeOneCsv()
    {
        string whole = WriteCsv("train.csv", 300, 6);
        var lines = File.ReadAllLines(whole);
        Directory.CreateDirectory(PathOf("parts"));
        File.WriteAllLines(PathOf("parts/part-0.csv"), lines[..120]);
        File.WriteAllLines(PathOf("parts/part-1.csv"), [lines[0], .. lines[120..]]);
        string parquet = PathOf("train.parquet");
        var rows = lines[1..].Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        using (var writer = new ParquetSharp.ParquetFileWriter(parquet, [.. lines[0].Split(',').Select(n => new ParquetSharp.Column<double>(n))]))
        {
            using (var group = writer.AppendRowGroup())
            {
                for (int c = 0; c < 4; c++)
                {
                    using var column = group.NextColumn().LogicalWriter<double>();
                    column.WriteBatch([.. rows.Select(r => r[c])]);
                }
            }

            writer.Close();
        }

        string[] Train(string data, string model)
        {
            var run = Run("train", "--device", "cpu", "--data", data, "--val-split", "0.2", "--standardize", "--layers", "8",
                "--epochs", "5", "--log-every", "1", "--batch-size", "32", "--save", model);
            Assert.True(run.Code == 0, run.Err);
            Assert.Contains($"Loaded {data}: 300 rows, 3 features, 1 target", run.Out);
            return [.. run.Out.Split('\n').Where(l => l.StartsWith("Epoch ", StringComparison.Ordinal))];
        }

        var expected = Train(whole, PathOf("whole.safetensors"));
        Assert.Equal(5, expected.Length);
        Assert.Equal(expected, Train(PathOf("parts/part-*.csv"), PathOf("parts.safetensors")));
        Assert.Equal(expected, Train(parquet, PathOf("parquet.safetensors")));
        var fromCsv = Run("predict", "--device", "cpu", "--model", PathOf("parquet.safetensors"), "--data", whole);
        var fromParquet = Run("predict", "--device", "cpu", "--model", PathOf("parquet.safetensors"), "--data", parquet);
        Assert.True(fromParquet.Code == 0, fromParquet.Err);
        Assert.Equal(fromCsv.Out, fromParquet.Out);
    }

    [SkippableTheory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void TrainsSavesAndPredictsOnEveryDevice(string device)
    {
        Skip.If(device == "cuda" && !Gpu.Runtime.Device.Discover().Any(d => d.Kind == Gpu.Runtime.DeviceKind.Cuda && d.IsUsable), "no usable CUDA device here");
        string train = WriteCsv("train.csv", 120, 4);
        string model = PathOf($"{device}.safetensors");
        string report = PathOf($"{device}.json");
        var trained = Run("train", "--device", device, "--data", train, "--layers", "16", "--batch-size", "32", "--epochs", "20", "--lr", "0.01",
            "--save", model, "--report", report);
        Assert.True(trained.Code == 0, trained.Err);
        Assert.Contains($"on {device} ", trained.Out);
        var predicted = Run("predict", "--device", device, "--model", model, "--data", train);
        Assert.True(predicted.Code == 0, predicted.Err);
        Assert.Equal(121, predicted.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        // The same seed gives the same run again on the same device.
        string again = PathOf($"{device}-again.safetensors");
        Assert.Equal(0, Run("train", "--device", device, "--data", train, "--layers", "16", "--batch-size", "32", "--epochs", "20", "--lr", "0.01", "--save", again).Code);
        Assert.Equal(SafeTensors.Read(model).Tensors["0.weight"].Data, SafeTensors.Read(again).Tensors["0.weight"].Data);
    }

    [Fact]
    public void ResumingGivesTheSameModelAsAnUninterruptedRun()
    {
        string train = WriteCsv("train.csv", 90, 3);
        string[] common = ["train", "--device", "cpu", "--data", train, "--batch-size", "16", "--optimizer", "adamw", "--lr", "0.01", "--seed", "5"];
        string straight = PathOf("straight.safetensors");
        Assert.Equal(0, Run([.. common, "--epochs", "12", "--save", straight]).Code);

        string checkpoint = PathOf("run.ckpt");
        Assert.Equal(0, Run([.. common, "--epochs", "7", "--checkpoint", checkpoint, "--checkpoint-every", "7"]).Code);
        string resumed = PathOf("resumed.safetensors");
        var result = Run([.. common, "--epochs", "12", "--resume", checkpoint, "--save", resumed]);
        Assert.True(result.Code == 0, result.Err);
        Assert.DoesNotContain("Epoch 0,", result.Out);
        Assert.Contains("Epoch 10,", result.Out);

        var a = SafeTensors.Read(straight).Tensors;
        var b = SafeTensors.Read(resumed).Tensors;
        foreach (var (name, tensor) in a)
            Assert.Equal(tensor.Data, b[name].Data);
    }

    [Fact]
    public void ReportHasEveryField()
    {
        string report = PathOf("report.json");
        // No RAPL counters, whatever this machine has: the energy fields are then null with the reason.
        string? powercap = Environment.GetEnvironmentVariable(RaplCounters.RootVariable);
        Environment.SetEnvironmentVariable(RaplCounters.RootVariable, Directory.CreateDirectory(PathOf("no-powercap")).FullName);
        (int Code, string Out, string Err) result;
        try
        {
            result = Run("train", "--device", "cpu", "--epochs", "5", "--report", report);
        }
        finally
        {
            Environment.SetEnvironmentVariable(RaplCounters.RootVariable, powercap);
        }

        Assert.True(result.Code == 0, result.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(report));
        var r = doc.RootElement;
        Assert.Equal("cpu", r.GetProperty("device").GetProperty("kind").GetString());
        Assert.False(string.IsNullOrEmpty(r.GetProperty("device").GetProperty("name").GetString()));
        Assert.Equal([10, 20, 1], r.GetProperty("model").GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(241, r.GetProperty("model").GetProperty("parameters").GetInt32());
        var epochs = r.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3, 4], epochs.Select(e => e.GetProperty("epoch").GetInt32()));
        Assert.All(epochs, e =>
        {
            Assert.True(e.GetProperty("loss").GetDouble() > 0);
            Assert.True(e.GetProperty("val_loss").GetDouble() > 0);
            Assert.True(e.GetProperty("seconds").GetDouble() > 0);
            Assert.Equal(1e-3, e.GetProperty("lr").GetDouble());
            Assert.True(e.GetProperty("grad_norm").GetDouble() > 0);
        });
        var outcome = r.GetProperty("result");
        Assert.Equal(epochs[^1].GetProperty("loss").GetDouble(), outcome.GetProperty("final_loss").GetDouble());
        Assert.True(outcome.GetProperty("final_val_loss").GetDouble() > 0);
        Assert.InRange(outcome.GetProperty("best_epoch").GetInt32(), 0, 4);
        Assert.False(outcome.GetProperty("stopped_early").GetBoolean());
        foreach (var key in new[] { "train_seconds", "steps_per_second", "samples_per_second", "achieved_gflops" })
            Assert.True(r.GetProperty("throughput").GetProperty(key).GetDouble() > 0, key);
        Assert.Equal(JsonValueKind.Null, r.GetProperty("energy").GetProperty("joules").ValueKind);
        Assert.Empty(r.GetProperty("energy").GetProperty("sources").EnumerateArray());
        Assert.Contains("no RAPL counters", r.GetProperty("energy").GetProperty("not_measured").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("profile").ValueKind);
        var training = r.GetProperty("training");
        Assert.Equal("mse", training.GetProperty("loss").GetString());
        Assert.Equal("adam", training.GetProperty("optimizer").GetString());
        Assert.Equal(1e-3, training.GetProperty("optimizer_options").GetProperty("lr").GetDouble());
        Assert.Equal(1, training.GetProperty("accumulate").GetInt32());
        Assert.Equal(JsonValueKind.Null, training.GetProperty("lr_schedule").ValueKind);
        Assert.Equal(1, r.GetProperty("ranks").GetProperty("world_size").GetInt32());

        // Without validation data, val_loss is null.
        string train = WriteCsv("train.csv", 40, 4);
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "2", "--report", report).Code);
        using var noVal = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal(JsonValueKind.Null, noVal.RootElement.GetProperty("epochs")[0].GetProperty("val_loss").ValueKind);
        Assert.Equal(JsonValueKind.Null, noVal.RootElement.GetProperty("result").GetProperty("final_val_loss").ValueKind);

        // The data: the file's bytes, the load time, and where the rows stayed (the CPU keeps them
        // in host memory by default; a limit large enough puts them on the device).
        var data = noVal.RootElement.GetProperty("data");
        Assert.Equal(new FileInfo(train).Length, data.GetProperty("bytes").GetInt64());
        Assert.True(data.GetProperty("load_seconds").GetDouble() > 0);
        Assert.Equal("host", data.GetProperty("residence").GetString());
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "2", "--device-data-mb", "1", "--report", report).Code);
        using var onDevice = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal("device", onDevice.RootElement.GetProperty("data").GetProperty("residence").GetString());
    }

    [Fact]
    public void DevicesListsTheCpuAndMarksAutosPick()
    {
        var (code, output, _) = Run("devices");
        Assert.Equal(0, code);
        Assert.Contains("cpu", output);
        Assert.Contains("* auto picks", output);
    }

    [Fact]
    public void MissingFilesAreOneLineErrors()
    {
        AssertOneLineError(Run("train", "--device", "cpu", "--data", PathOf("nope.csv")), 1, "nope.csv: no such file");
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", PathOf("nope.safetensors"), "--data", PathOf("x.csv")), 1, "no such file");
    }

    [Fact]
    public void DataSetsThatNameNoUsableFileAreOneLineErrors()
    {
        AssertOneLineError(Run("train", "--device", "cpu", "--data", folder), 1, "the folder holds no .csv or .parquet files");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", PathOf("part-*.csv")), 1, "part-*.csv: no files match");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", PathOf("*/part.csv")), 1, "wildcards are allowed in the file name only");
        File.WriteAllText(PathOf("fake.parquet"), "a,y\n1,2\n");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", PathOf("fake.parquet")), 1, "fake.parquet: not a readable Parquet file");
        Directory.CreateDirectory(PathOf("data.csv"));
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", PathOf("m.safetensors"), "--data", PathOf("data.csv")), 1, "no such file");
    }

    [SkippableFact]
    public void UnreadableFilesAreOneLineErrors()
    {
        Skip.If(OperatingSystem.IsWindows(), "file modes are a Unix notion");
        string path = WriteCsv("secret.csv", 5, 1);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.None);
        bool readable;
        try
        {
            using (File.OpenRead(path))
                readable = true;
        }
        catch (UnauthorizedAccessException)
        {
            readable = false;
        }

        Skip.If(readable, "this user (root?) can read a file with mode 000, so unreadability cannot be tested here");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path), 1, "permission denied");
    }

    [Fact]
    public void MalformedCsvNamesLineAndColumn()
    {
        string path = PathOf("bad.csv");
        File.WriteAllText(path, "a,b,y\n1,2,3\n4,oops,6\n");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path), 1, "bad.csv:3:2: 'oops' in column 'b' is not a number");
        File.WriteAllText(path, "a,b,y\n1,2,3\n4,5\n");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path), 1, "bad.csv:3: expected 3 values");
    }

    [Fact]
    public void NonFiniteDataIsRejected()
    {
        string path = PathOf("nan.csv");
        File.WriteAllText(path, "a,y\n1,2\nNaN,3\n");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path), 1, "nan.csv:3:1: 'NaN' in column 'a' is not a finite number");
        File.WriteAllText(path, "a,y\n1,inf\n");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", path), 1, "not a finite number");
    }

    [Fact]
    public void UnknownTargetIsRejected()
    {
        string train = WriteCsv("train.csv", 10, 1);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--target", "price"), 1, "target column 'price' is not in the header (columns: a, b, c, y)");
    }

    [Fact]
    public void ModelFilesThatAreNotSafetensorsOrDoNotMatchAreRejected()
    {
        string junk = PathOf("junk.safetensors");
        File.WriteAllText(junk, "this is not a model");
        string data = WriteCsv("data.csv", 10, 1, withTarget: false);
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", junk, "--data", data), 1, "not a valid safetensors file");

        string train = WriteCsv("train.csv", 20, 1);
        string model = PathOf("m.safetensors");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--layers", "4", "--save", model).Code);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--epochs", "1", "--layers", "5", "--init", model), 1,
            "'0.weight' has shape (4, 3) but the model expects (5, 3)");

        string wide = PathOf("wide.csv");
        File.WriteAllText(wide, "a,b,c,d\n1,2,3,4\n");
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", model, "--data", wide), 1, "unexpected: d");
        string narrow = PathOf("narrow.csv");
        File.WriteAllText(narrow, "a,b\n1,2\n");
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", model, "--data", narrow), 1, "missing: c");
    }

    [Fact]
    public void ADivergingRunStopsWithTheEpochAndKeepsTheLastGoodCheckpoint()
    {
        string train = WriteCsv("train.csv", 50, 1);
        string checkpoint = PathOf("ckpt.safetensors");
        var result = Run("train", "--device", "cpu", "--data", train, "--optimizer", "sgd", "--lr", "20", "--epochs", "200",
            "--checkpoint", checkpoint, "--checkpoint-every", "1");
        AssertOneLineError(result, 3, "Training diverged at epoch");
        Assert.Contains("lower learning rate", result.Err);
        Assert.Contains("last good checkpoint", result.Err);
        var saved = SafeTensors.Read(checkpoint);
        Assert.All(saved.Tensors.Values.SelectMany(t => t.Data), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData("--bogus", "unknown option '--bogus' for train")]
    [InlineData("--lr=-0.1", "--lr must be a finite number >= 0")]
    [InlineData("--epochs=0", "--epochs must be at least 1")]
    [InlineData("--device-data-mb=-1", "--device-data-mb must be a finite number >= 0")]
    [InlineData("--batch-size=-4", "--batch-size must be 0")]
    [InlineData("--loss=hinge", "hinge")]
    [InlineData("--layers=20,x", "--layers takes positive integer widths")]
    [InlineData("--val-split=1.5", "--val-split must lie strictly between 0 and 1")]
    [InlineData("--checkpoint-every=3", "--checkpoint-every needs --checkpoint")]
    [InlineData("--momentum=0.9", "--momentum applies to --optimizer rmsprop or sgd only")]
    [InlineData("--centered", "--centered applies to --optimizer rmsprop only")]
    [InlineData("--huber-delta=2", "--huber-delta applies to --loss huber only")]
    [InlineData("--lr-schedule=cosin", "--lr-schedule: unknown schedule 'cosin' (known: constant, cosine(min=0,warmup=0)")]
    [InlineData("--lr-schedule=step(2,gamma=0)", "--lr-schedule: step: gamma must be a finite number > 0, got 0")]
    [InlineData("--lr-schedule=exponential(-0.5)", "--lr-schedule: exponential: gamma must be a finite number > 0")]
    [InlineData("--lr-schedule=onecycle(pct=1.5)", "--lr-schedule: onecycle: pct must lie strictly between 0 and 1, got 1.5")]
    [InlineData("--lr-schedule=plateau(factor=2)", "--lr-schedule: plateau: factor must lie strictly between 0 and 1")]
    [InlineData("--lr-schedule=cosine(warmup=100)", "--lr-schedule cosine(min=0,warmup=100): warmup 100 must be less than the run's 100 optimizer steps")]
    [InlineData("--accumulate=0", "--accumulate must be at least 1")]
    [InlineData("--clip-grad-norm=0", "--clip-grad-norm must be a finite number > 0, got 0")]
    [InlineData("--clip-grad-value=-1", "--clip-grad-value must be a finite number > 0, got -1")]
    public void BadFlagsAreUsageErrors(string flag, string message)
    {
        AssertOneLineError(Run("train", "--device", "cpu", flag), 2, message);
    }

    [Fact]
    public void OutputsNeverOverwriteInputs()
    {
        string train = WriteCsv("train.csv", 10, 1);
        var before = File.ReadAllBytes(train);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--save", train), 2, "would overwrite the input file of --data");
        Assert.Equal(before, File.ReadAllBytes(train));
    }

    [SkippableFact]
    public void AnAbsentDeviceIsAClearError()
    {
        Skip.If(Gpu.Runtime.Device.Discover().Any(d => d.Kind == Gpu.Runtime.DeviceKind.Cuda && d.IsUsable), "a CUDA device is present");
        AssertOneLineError(Run("train", "--device", "cuda"), 1, "Device 'cuda' was requested but is not available");
    }

    [Fact]
    public void VerbosePrintsTheStackTrace()
    {
        var result = Run("train", "--device", "cpu", "--data", PathOf("nope.csv"), "--verbose");
        Assert.Equal(1, result.Code);
        Assert.Contains("at Gpu.", result.Err);
    }
}
