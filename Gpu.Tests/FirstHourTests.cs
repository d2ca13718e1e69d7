using System.Text.RegularExpressions;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>What a new user meets first: mistyped commands and options, wrong losses, what is printed and how.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class FirstHourTests : IDisposable
{
    private const string Commands = "the commands are train, predict, evaluate, export, generate, inspect, plot, devices";

    private readonly string folder = Directory.CreateTempSubdirectory("gpu-firsthour-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string In(string name) => Path.Combine(folder, name);

    [Theory]
    [InlineData(new[] { "trian" }, $"error: unknown command 'trian' (did you mean 'train'?); {Commands}")]
    [InlineData(new[] { "predikt", "--model", "m" }, $"error: unknown command 'predikt' (did you mean 'predict'?); {Commands}")]
    [InlineData(new[] { "help", "nope" }, $"error: unknown command 'nope'; {Commands}")]
    [InlineData(new string[0], "error: no command given: use one of train, predict, evaluate, export, generate, inspect, plot, devices (gpu help [command] describes each)")]
    [InlineData(new[] { "train", "--epoch", "3" }, "error: unknown option '--epoch' for train (did you mean '--epochs'?) (see gpu help train)")]
    [InlineData(new[] { "train", "--verbos" }, "error: unknown option '--verbos' for train (did you mean '--verbose'?) (see gpu help train)")]
    [InlineData(new[] { "train", "--lr", "abc" }, "error: --lr takes a number, got 'abc'")]
    [InlineData(new[] { "train", "--epochs", "2.5" }, "error: --epochs takes a whole number, got '2.5'")]
    [InlineData(new[] { "train", "--loss", "msee" }, "error: --loss: unknown value 'msee' (did you mean 'mse'?); use one of bce, ce, huber, mse")]
    [InlineData(new[] { "train", "extra" }, "error: unexpected argument 'extra' for train (see gpu help train)")]
    public void MistakesInTheCommandLineGetOneLineThatSaysWhatWasMeant(string[] args, string expected)
    {
        var run = Run(args);
        Assert.Equal(2, run.Code);
        Assert.Equal(expected, run.Err.TrimEnd());
        Assert.DoesNotContain("System.", run.Err);
    }

    [Fact]
    public void HelpWorksAsACommand()
    {
        var all = Run("help");
        Assert.Equal(0, all.Code);
        Assert.Contains("Commands:", all.Out);
        Assert.Contains("train", all.Out);
        var train = Run("help", "train");
        Assert.Equal(0, train.Code);
        Assert.Contains("--epochs", train.Out);
        Assert.Contains("--tensorboard", train.Out);
    }

    [Theory]
    [InlineData("528599.875", "a value that is not a whole number")]
    [InlineData("578101", "a value too large for a class index")]
    [InlineData("-1", "a negative value")]
    public void CrossEntropyOnAContinuousTargetIsRefusedBeforeAnyModelIsBuilt(string price, string what)
    {
        string data = In("houses.csv");
        File.WriteAllLines(data, ["rooms,area,price", $"3,120.5,{price}", "2,80,1", "4,150,0"]);
        var run = Run("train", "--data", data, "--loss", "ce", "--epochs", "2");
        AssertOneLineError(run, 2, $"--loss ce reads target 'price' as class indices (whole numbers 0 to 99,999), but row 1 of the training data holds {price}, {what}; for a continuous target (regression) use --loss mse or huber.");
        Assert.DoesNotContain("Model:", run.Out);
    }

    [Fact]
    public void TheFirstEveryNthAndTheLastEpochArePrintedWithSixDigits()
    {
        var run = Run("train", "--epochs", "25");
        Assert.True(run.Code == 0, run.Err);
        var epochs = Regex.Matches(run.Out, @"^Epoch (\d+), Loss: (\S+), Val Loss: (\S+)$", RegexOptions.Multiline);
        Assert.Equal(["0", "10", "20", "24"], epochs.Select(m => m.Groups[1].Value));
        foreach (Match m in epochs)
        {
            foreach (string number in new[] { m.Groups[2].Value, m.Groups[3].Value })
                Assert.True(number.Count(char.IsDigit) <= 7 && double.TryParse(number, System.Globalization.CultureInfo.InvariantCulture, out _), number); // "0.807859": 6 significant digits
        }

        Assert.Matches(@"best val loss \S+ at epoch \d+\.", run.Out);
    }

    [Fact]
    public void AnEarlyStoppedRunPrintsItsLastEpoch()
    {
        var run = Run("train", "--epochs", "500", "--patience", "3", "--lr", "0.05", "--log-every", "100");
        Assert.True(run.Code == 0, run.Err);
        var stopped = Regex.Match(run.Out, @"Stopped early after epoch (\d+)");
        Assert.True(stopped.Success, run.Out);
        Assert.Contains($"Epoch {stopped.Groups[1].Value}, Loss: ", run.Out);
    }

    [Fact]
    public void WhyTheGpuWasNotUsedIsSaidOnceAndOnlyByDevices()
    {
        var train = Run("train", "--epochs", "1");
        Assert.True(train.Code == 0, train.Err);
        Assert.DoesNotContain("libcuda", train.Out);
        var devices = Run("devices");
        Assert.True(devices.Out.Split('\n').Count(line => line.Contains("libcuda")) <= 1, devices.Out);
        var verbose = Run("train", "--epochs", "1", "--verbose");
        Assert.Equal(train.Out.Contains("gpu devices` says why"), verbose.Out.Contains("no CUDA device found") || verbose.Out.Contains("no usable CUDA"));
    }

    [Fact]
    public void AHugeBadCellIsQuotedShortWithItsLength()
    {
        string data = In("wide.csv");
        File.WriteAllText(data, $"a,b\n1,2\n3,{new string('x', 2_000_000)}\n");
        var run = Run("train", "--data", data, "--epochs", "1");
        AssertOneLineError(run, 1, "(2,000,000 bytes) in column 'b' is not a number.");
        Assert.True(run.Err.Length < 300, $"{run.Err.Length} characters");
        Assert.Contains("'" + new string('x', 80) + "...'", run.Err);
    }

    [Fact]
    public void InspectShowsTheLayersShapesParametersAndWhatWasSaved()
    {
        string model = In("digits.safetensors");
        var train = Run("train", "--data", Path.Combine(Repository.Root, "data", "digits.csv"), "--target", "label", "--loss", "ce", "--input-shape", "1,8,8",
            "--model", "conv(8,3,padding=1),relu,maxpool(2),flatten,linear(10)", "--epochs", "1", "--standardize", "--save", model);
        Assert.True(train.Code == 0, train.Err);
        var run = Run("inspect", model);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("(0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))", run.Out);
        // Parameters by PyTorch's formulas: conv 1 x 8 x 3 x 3 + 8, linear 128 x 10 + 10.
        Assert.Matches(@"0  conv\(8,3,padding=1\)\s+\(N, 8, 8, 8\)\s+80\n", run.Out.Replace("\r", ""));
        Assert.Matches(@"3  flatten\s+\(N, 128\)\s+0\n", run.Out.Replace("\r", ""));
        Assert.Matches(@"4  linear\(10\)\s+\(N, 10\)\s+1,290\n", run.Out.Replace("\r", ""));
        Assert.Contains("Total parameters: 1,370", run.Out);
        Assert.Contains("Loss: ce (", run.Out);
        Assert.Contains("10 classes", run.Out);
        Assert.Contains("Features (64): p0, p1", run.Out);
        Assert.Contains("Targets (1): label", run.Out);
        Assert.Contains("Standardisation: every feature", run.Out);
        Assert.Contains("  optimizer: adam", run.Out);

        AssertOneLineError(Run("inspect", In("model.onnx")), 2, "inspect reads this project's model files");
        AssertOneLineError(Run("inspect", In("missing.safetensors")), 1, "missing.safetensors");
    }

    [Fact]
    public void GpuHostThreadsLimitsTheHostPathLikeOmpNumThreads()
    {
        string? saved = Environment.GetEnvironmentVariable(Gpu.Runtime.Device.HostThreadsVariable);
        try
        {
            Environment.SetEnvironmentVariable(Gpu.Runtime.Device.HostThreadsVariable, "1");
            using (var one = Gpu.Runtime.Device.CreateCpu())
                Assert.Equal(1, one.HostThreads);
            using (var given = Gpu.Runtime.Device.CreateCpu(threads: 2))
                Assert.Equal(Math.Min(2, Environment.ProcessorCount), given.HostThreads); // an explicit count wins
        }
        finally
        {
            Environment.SetEnvironmentVariable(Gpu.Runtime.Device.HostThreadsVariable, saved);
            using var all = Gpu.Runtime.Device.CreateCpu(threads: Environment.ProcessorCount); // the process-wide default again
        }
    }
}
