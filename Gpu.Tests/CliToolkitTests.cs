using System.Globalization;
using System.Text.Json;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>The toolkit's flags on the command line: resumes that continue the schedule, refusals that name the flag, what the output shows.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class CliToolkitTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-cli-toolkit-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    // A regression CSV: y = 2 a - b + noise.
    private string WriteCsv(int rows, int seed)
    {
        var random = new Random(seed);
        var lines = new List<string> { "a,b,y" };
        for (int i = 0; i < rows; i++)
        {
            double a = random.NextDouble() * 2 - 1, b = random.NextDouble() * 2 - 1;
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{a},{b},{2 * a - b + 0.1 * (random.NextDouble() - 0.5)}"));
        }

        string path = PathOf($"data{seed}.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Theory]
    [InlineData("plateau(patience=0,factor=0.5)", "rmsprop")]
    [InlineData("step(2,gamma=0.5)", "sgd")]
    public void ResumingContinuesTheScheduleByteForByte(string schedule, string optimizer)
    {
        string train = WriteCsv(60, 1);
        string[] common = ["train", "--device", "cpu", "--data", train, "--val-split", "0.25", "--batch-size", "8", "--optimizer", optimizer, "--lr", "0.05",
            "--momentum", "0.5", "--lr-schedule", schedule, "--accumulate", "2", "--clip-grad-norm", "0.3", "--l1", "0.001"];
        string straight = PathOf("straight.safetensors"), report = PathOf("straight.json");
        var first = Run([.. common, "--epochs", "8", "--save", straight, "--report", report]);
        Assert.True(first.Code == 0, first.Err);

        // The flags that shape the steps come back from the checkpoint: --resume needs only the data and the length.
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run([.. common, "--epochs", "4", "--checkpoint", checkpoint]).Code);
        string resumed = PathOf("resumed.safetensors"), resumedReport = PathOf("resumed.json");
        var second = Run("train", "--device", "cpu", "--data", train, "--val-split", "0.25", "--batch-size", "8", "--epochs", "8", "--resume", checkpoint,
            "--save", resumed, "--report", resumedReport);
        Assert.True(second.Code == 0, second.Err);
        var a = SafeTensors.Read(straight).Tensors;
        var b = SafeTensors.Read(resumed).Tensors;
        foreach (var (name, tensor) in a)
            Assert.Equal(tensor.Data, b[name].Data);

        using var straightJson = JsonDocument.Parse(File.ReadAllText(report));
        using var resumedJson = JsonDocument.Parse(File.ReadAllText(resumedReport));
        var rates = straightJson.RootElement.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("lr").GetDouble()).ToList();
        Assert.Equal(rates.Skip(4), resumedJson.RootElement.GetProperty("epochs").EnumerateArray().Select(e => e.GetProperty("lr").GetDouble()));
        Assert.True(rates[^1] < 0.05, $"the schedule never lowered the rate: {string.Join(", ", rates)}");
        Assert.Equal(schedule, resumedJson.RootElement.GetProperty("training").GetProperty("lr_schedule").GetString());
        Assert.Equal(2, resumedJson.RootElement.GetProperty("training").GetProperty("accumulate").GetInt32());
    }

    [Theory]
    [InlineData("--lr-schedule", "step(3,gamma=0.5)", "--lr-schedule step(3,gamma=0.5) contradicts", "trained with --lr-schedule step(2,gamma=0.5)")]
    [InlineData("--accumulate", "3", "--accumulate 3 contradicts", "trained with --accumulate 2")]
    [InlineData("--clip-grad-norm", "1", "--clip-grad-norm 1 contradicts", "trained with --clip-grad-norm 0.3")]
    [InlineData("--momentum", "0.9", "--momentum 0.9 contradicts", "trained with --momentum 0.5")]
    public void ToolkitFlagsThatContradictTheCheckpointAreRefused(string flag, string value, string given, string saved)
    {
        string train = WriteCsv(40, 2);
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--batch-size", "8", "--epochs", "2", "--optimizer", "sgd", "--momentum", "0.5",
            "--lr-schedule", "step(2,gamma=0.5)", "--accumulate", "2", "--clip-grad-norm", "0.3", "--checkpoint", checkpoint).Code);
        var result = Run("train", "--device", "cpu", "--data", train, "--batch-size", "8", "--epochs", "4", "--resume", checkpoint, flag, value);
        AssertOneLineError(result, 2, given);
        Assert.Contains(saved, result.Err);
    }

    [Fact]
    public void ACosineResumedOverALongerRunIsRefused()
    {
        string train = WriteCsv(40, 3);
        string checkpoint = PathOf("c.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--batch-size", "8", "--epochs", "4", "--lr-schedule", "cosine(warmup=2)",
            "--checkpoint", checkpoint).Code);
        var result = Run("train", "--device", "cpu", "--data", train, "--batch-size", "8", "--epochs", "8", "--resume", checkpoint);
        AssertOneLineError(result, 2, "was begun over a run of 20 optimizer steps, but this run has 40");
    }

    [Theory]
    [InlineData(new[] { "--loss", "huber", "--huber-delta", "0" }, "--huber-delta must be a finite number > 0, got 0")]
    [InlineData(new[] { "--optimizer", "rmsprop", "--alpha", "1.5" }, "--alpha must be a number in [0, 1], got 1.5")]
    [InlineData(new[] { "--optimizer", "adamw", "--weight-decay", "-1" }, "--weight-decay must be a finite number >= 0, got -1")]
    [InlineData(new[] { "--optimizer", "adam", "--centered" }, "--centered applies to --optimizer rmsprop only")]
    public void ComponentFlagsAreCheckedAgainstTheirComponent(string[] flags, string message)
    {
        AssertOneLineError(Run(["train", "--device", "cpu", .. flags]), 2, message);
    }

    [Fact]
    public void HelpListsWhatTheRegistriesHold()
    {
        var help = Run("train", "--help");
        Assert.Equal(0, help.Code);
        foreach (var name in Registry<LossEntry>.Names.Concat(Registry<OptimizerEntry>.Names))
            Assert.Contains(name, help.Out);
        foreach (var entry in Registry<ScheduleEntry>.All)
            Assert.Contains(entry.Usage, help.Out);
        foreach (var flag in new[] { "--huber-delta", "--centered", "--alpha", "--momentum", "--weight-decay", "--clip-grad-norm", "--clip-grad-value", "--accumulate" })
            Assert.Contains(flag, help.Out);
    }

    [Fact]
    public void HuberAndRmspropTrainFromTheCommandLine()
    {
        string train = WriteCsv(80, 4);
        string report = PathOf("r.json");
        var result = Run("train", "--device", "cpu", "--data", train, "--val-split", "0.2", "--loss", "huber", "--huber-delta", "0.5", "--optimizer", "rmsprop",
            "--centered", "--lr", "0.01", "--batch-size", "16", "--epochs", "20", "--lr-schedule", "cosine(warmup=5)", "--report", report);
        Assert.True(result.Code == 0, result.Err);
        Assert.Contains("Epoch 10, Loss: ", result.Out);
        Assert.Matches(@"Epoch 0, Loss: [0-9.e-]+, Val Loss: [0-9.e-]+, LR: 0\.008\n", result.Out.Replace("\r", ""));
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var epochs = json.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        Assert.True(epochs[^1].GetProperty("val_loss").GetDouble() < 0.5 * epochs[0].GetProperty("val_loss").GetDouble());
        var training = json.RootElement.GetProperty("training");
        Assert.Equal(0.5, training.GetProperty("loss_options").GetProperty("--huber-delta").GetDouble());
        Assert.True(training.GetProperty("optimizer_options").GetProperty("centered").GetBoolean());
    }
}
