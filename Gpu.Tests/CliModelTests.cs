using System.Globalization;
using System.Text.Json;
using Gpu.Cli;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>The command line with any architecture: --model, --input-shape, CNNs on real digits, and the checks around them.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class CliModelTests : IDisposable
{
    private const string DigitsCnn = "conv(8,3,padding=1),relu,maxpool(2),conv(16,3,padding=1),relu,maxpool(2),flatten,linear(32),relu,dropout(0.1),linear(10)";

    private readonly string folder = Directory.CreateTempSubdirectory("gpu-cli-model-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private static string Digits => Path.Combine(Repository.Root, "data", "digits.csv");

    [Fact]
    public void ACnnTrainsOnTheDigitsSavesAndPredicts()
    {
        string model = PathOf("digits.safetensors");
        string report = PathOf("report.json");
        var trained = Run("train", "--device", "cpu", "--data", Digits, "--target", "label", "--loss", "ce", "--input-shape", "1,8,8",
            "--model", DigitsCnn, "--val-split", "0.2", "--batch-size", "32", "--epochs", "6", "--lr", "0.003", "--log-every", "1",
            "--save", model, "--report", report);
        Assert.True(trained.Code == 0, trained.Err);
        Assert.Contains("Model: (N, 1, 8, 8) conv(8,3,padding=1),relu,maxpool(2)", trained.Out);
        var last = trained.Out.Split('\n').Last(l => l.StartsWith("Epoch 5,", StringComparison.Ordinal));
        double accuracy = double.Parse(last[(last.IndexOf("Val Accuracy: ", StringComparison.Ordinal) + 14)..].Trim(), CultureInfo.InvariantCulture);
        Assert.True(accuracy > 0.9, last);

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal(DigitsCnn, json.RootElement.GetProperty("model").GetProperty("architecture").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("model").GetProperty("layers").ValueKind);
        Assert.Equal(accuracy, json.RootElement.GetProperty("epochs")[5].GetProperty("val_accuracy").GetDouble(), 4);

        string predictions = PathOf("predictions.csv");
        var predicted = Run("predict", "--device", "cpu", "--model", model, "--data", Digits, "--out", predictions);
        Assert.True(predicted.Code == 0, predicted.Err);
        var classes = File.ReadAllLines(predictions).Skip(1).Select(int.Parse).ToList();
        var labels = File.ReadAllLines(Digits).Skip(1).Select(l => int.Parse(l[(l.LastIndexOf(',') + 1)..], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(labels.Count, classes.Count);
        Assert.True(classes.Zip(labels).Count(p => p.First == p.Second) > 0.9 * labels.Count);
    }

    [Theory]
    [InlineData("conv(8,3),relu,flaten,linear(10)", "unknown layer 'flaten'", "at character 16")]
    [InlineData("conv(8,3),relu,,linear(10)", "a layer is missing", "at character 16")]
    [InlineData("conv(8,x)", "kernel 'x' is not a whole number", "layer 'conv(8,x)'")]
    [InlineData("conv(8,3,strde=2),flatten,linear(10)", "conv has no argument 'strde'", "at character 1")]
    [InlineData("conv(8,3),relu,linear(10)", "put a flatten before it", "layer 'linear(10)'")]
    [InlineData("conv(8,9),flatten,linear(10)", "smaller than the 9x9 kernel", "layer 'conv(8,9)'")]
    [InlineData("conv(8,3),flatten,linear(7)", "ends with outputs (N, 7) but the data has 10 classes", "linear(10)")]
    [InlineData("conv(8,3", "unbalanced '('", "--model")]
    public void BadModelsNameTheOffendingLayer(string spec, string problem, string where)
    {
        var result = Run("train", "--device", "cpu", "--data", Digits, "--target", "label", "--loss", "ce", "--input-shape", "1,8,8", "--model", spec, "--epochs", "1");
        AssertOneLineError(result, 2, problem);
        Assert.Contains(where, result.Err);
    }

    [Theory]
    [InlineData("--layers=64,,32", "width 2 of '64,,32' is empty")]
    [InlineData("--layers=64,32,", "width 3 of '64,32,' is empty")]
    [InlineData("--layers=0", "width 1 of '0' is '0'")]
    public void MalformedLayerWidthsAreErrors(string flag, string message)
    {
        AssertOneLineError(Run("train", "--device", "cpu", flag), 2, message);
    }

    [Fact]
    public void InputShapeMustHoldTheFeaturesAndLayersWithModelIsAnError()
    {
        AssertOneLineError(Run("train", "--device", "cpu", "--data", Digits, "--target", "label", "--loss", "ce", "--input-shape", "1,8,9", "--model", "flatten,linear(10)"), 2,
            "--input-shape 1,8,9 holds 72 values but the data has 64 feature columns");
        AssertOneLineError(Run("train", "--device", "cpu", "--layers", "8", "--model", "linear(1)"), 2, "--layers and --model cannot be used together");
        AssertOneLineError(Run("train", "--device", "cpu", "--data", Digits, "--target", "label", "--loss", "ce", "--input-shape", "1,8,8", "--layers", "8"), 2,
            "describe the model with --model");
    }

    [Fact]
    public void ResumeRejectsArchitectureFlagsThatDisagreeWithTheCheckpoint()
    {
        string train = PathOf("train.csv");
        File.WriteAllLines(train, ["a,b,c,d,e,f,g,h,i,j,y", .. Enumerable.Range(0, 30).Select(r => string.Join(",", Enumerable.Range(0, 11).Select(c => ((r * 7 + c * 3) % 11 / 10.0).ToString(CultureInfo.InvariantCulture))))]);
        string checkpoint = PathOf("run.ckpt");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", train, "--layers", "8", "--epochs", "2", "--checkpoint", checkpoint).Code);
        AssertOneLineError(Run("train", "--device", "cpu", "--data", train, "--layers", "16", "--epochs", "4", "--resume", checkpoint), 2,
            "holds the model MLP 10-8-1, but the flags describe MLP 10-16-1");
        var same = Run("train", "--device", "cpu", "--data", train, "--layers", "8", "--epochs", "4", "--resume", checkpoint);
        Assert.True(same.Code == 0, same.Err);
    }

    [Fact]
    public void ModelFilesWithNonFiniteWeightsAreRejectedNamingTheTensor()
    {
        string model = PathOf("m.safetensors");
        Assert.Equal(0, Run("train", "--device", "cpu", "--epochs", "1", "--save", model).Code);
        var file = SafeTensors.Read(model);
        var tensors = file.Tensors.Values.Select(t => t.Name == "2.weight" ? t with { Data = [.. t.Data[..^1], float.NaN] } : t);
        string poisoned = PathOf("nan.safetensors");
        SafeTensors.Write(poisoned, tensors, file.Metadata);
        string data = PathOf("x.csv");
        File.WriteAllLines(data, [string.Join(",", Enumerable.Range(0, 10).Select(i => $"x{i}")), string.Join(",", Enumerable.Repeat("0.5", 10))]);
        AssertOneLineError(Run("predict", "--device", "cpu", "--model", poisoned, "--data", data), 1, "tensor '2.weight' holds NaN at element 19");
        AssertOneLineError(Run("train", "--device", "cpu", "--epochs", "1", "--init", poisoned), 1, "tensor '2.weight' holds NaN");
    }
}
