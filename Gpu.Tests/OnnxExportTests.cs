using Gpu.Cli;
using Gpu.Runtime;
using Gpu.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = Gpu.Runtime.Tensor;

namespace Gpu.Tests;

/// <summary>
/// Exported ONNX models, loaded by ONNX Runtime (CPU, full graph optimisation) and compared with
/// the project's own prediction for the same rows: every layer type, each loss, with and without
/// standardisation, batch 1 and 1,000. ONNX Runtime loading a model with full optimisation checks
/// ONNX's structural rules (every node's inputs defined, initialiser shapes consistent).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class OnnxExportTests(DeviceFixture devices) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-onnx-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    // Every layer type between them; the CNN's input is two 9x9 channels.
    private const string Cnn = "conv(4,3,stride=2,padding=1),leakyrelu(0.2),conv(6,2,padding=1),layernorm,gelu,maxpool(2),avgpool(2,stride=1),flatten,dropout(0.3),linear(12),tanh,linear(9),gelu(tanh),linear(7),sigmoid";

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var model in new[] { "mlp", "cnn" })
            foreach (var loss in new[] { "mse", "bce", "ce", "huber" })
                foreach (bool standardize in new[] { false, true })
                    data.Add(model, loss, standardize);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OnnxRuntimeGivesTheProjectsPredictions(string architecture, string lossName, bool standardize)
    {
        var device = devices.Host;
        int outputs = lossName switch { "bce" => 1, "ce" => 5, _ => 2 };
        var shape = architecture == "cnn" ? new TensorShape(2, 9, 9) : new TensorShape(10);
        using var model = (architecture == "cnn"
            ? Architecture.Parse($"{Cnn},linear({outputs})", shape)
            : Architecture.Parse($"linear(16),layernorm(eps=0.001),relu,linear(8),relu,linear({outputs})", shape)).To(device, seed: 4);
        int features = shape.Length;
        var standardizer = standardize
            ? new Standardizer([.. Enumerable.Range(0, features).Select(i => 0.1f * (i % 7))], [.. Enumerable.Range(0, features).Select(i => 0.5f + 0.05f * (i % 5))])
            : null;
        var info = new ModelInfo(lossName, [.. Enumerable.Range(0, features).Select(i => $"f{i}")], [.. Enumerable.Range(0, lossName == "ce" ? 1 : outputs).Select(i => $"t{i}")], standardizer);
        string path = Path.Combine(folder, $"{architecture}-{lossName}-{standardize}.onnx");
        OnnxExport.Save(path, model, info);

        using var session = new InferenceSession(path, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
        Assert.Equal(["input"], session.InputMetadata.Keys);
        Assert.Equal(-1, session.InputMetadata["input"].Dimensions[0]); // symbolic batch
        Assert.Equal(lossName is "mse" or "huber" ? ["output"] : ["output", "probabilities"], session.OutputMetadata.Keys);
        Assert.Equal(lossName, session.ModelMetadata.CustomMetadataMap["loss"]);
        Assert.Equal("gpu-training", session.ModelMetadata.ProducerName);

        foreach (int rows in new[] { 1, 1000 })
        {
            var raw = Numerics.Random(rows * features, 5 + rows, scale: 2f);
            var ours = model.Predict(standardizer is null ? raw : standardizer.Transform(raw));
            var input = new DenseTensor<float>(raw, [rows, .. shape.ToArray()]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
            var output = results.Single(r => r.Name == "output").AsEnumerable<float>().ToArray();
            Numerics.AssertClose(ours, output, 1e-6, 1e-5, $"{architecture} {lossName} output, batch {rows}");
            if (lossName is "mse" or "huber")
                continue;
            var probabilities = results.Single(r => r.Name == "probabilities").AsEnumerable<float>().ToArray();
            Numerics.AssertClose(Probabilities(ours, lossName, outputs), probabilities, 1e-6, 1e-5, $"{architecture} {lossName} probabilities, batch {rows}");
        }
    }

    [Theory]
    [InlineData("lstm(6),last,linear(3)", "mse", "5,4")]
    [InlineData("gru(5,layers=2),last,linear(4)", "ce", "6,3")]
    [InlineData("lstm(5,layers=2),relu,linear(3)", "mse", "4,2")]
    [InlineData("embedding(8),posembedding,lstm(6),linear(11)", "ce", "7")]
    [InlineData("embedding(6,vocab=13),gru(5),layernorm,linear(13)", "ce", "5")]
    [InlineData("embedding(16),posembedding,residual(layernorm,attention(4)),residual(layernorm,linear(32),gelu(tanh),linear(16)),layernorm,linear(11)", "ce", "9")]
    [InlineData("residual(attention(2,causal=false)),last,linear(3)", "mse", "6,4")]
    public void OnnxRuntimeRunsSequenceModelsAsTheProjectDoes(string architecture, string lossName, string shapeText)
    {
        var device = devices.Host;
        var shape = new TensorShape([.. shapeText.Split(',').Select(int.Parse)]);
        bool tokens = architecture.StartsWith("embedding", StringComparison.Ordinal);
        int vocabulary = 11;
        using var model = Architecture.Parse(architecture, shape, tokens ? vocabulary : null).To(device, seed: 8);
        int features = shape.Length, width = model.OutputShape[model.OutputShape.Rank - 1];
        var info = new ModelInfo(lossName, [.. Enumerable.Range(0, features).Select(i => $"f{i}")], ["y"]);
        string path = Path.Combine(folder, "sequence.onnx");
        OnnxExport.Save(path, model, info);

        using var session = new InferenceSession(path, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
        foreach (int rows in new[] { 1, 64 })
        {
            var raw = tokens
                ? [.. Enumerable.Range(0, rows * features).Select(i => (float)(i * 7 % vocabulary))]
                : Numerics.Random(rows * features, 9 + rows, scale: 2f);
            var ours = model.Predict(raw);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(raw, [rows, .. shape.ToArray()]))]);
            var output = results.Single(r => r.Name == "output").AsEnumerable<float>().ToArray();
            Assert.Equal([rows, .. model.OutputShape.ToArray()], results.Single(r => r.Name == "output").AsTensor<float>().Dimensions.ToArray());
            Numerics.AssertClose(ours, output, 1e-6, 1e-5, $"{architecture} output, batch {rows}");
            if (lossName == "ce")
            {
                var probabilities = results.Single(r => r.Name == "probabilities").AsEnumerable<float>().ToArray();
                Numerics.AssertClose(Probabilities(ours, lossName, width), probabilities, 1e-6, 1e-5, $"{architecture} probabilities, batch {rows}");
            }
        }
    }

    [Fact]
    public void TheCommandLineExportsAndPredictsThroughOnnxRuntime()
    {
        string model = Path.Combine(folder, "m.safetensors");
        string onnx = Path.Combine(folder, "m.onnx");
        string data = Path.Combine(Repository.Root, "data", "digits.csv");
        Assert.Equal(0, Cli("train", "--device", "cpu", "--data", data, "--target", "label", "--loss", "ce", "--input-shape", "1,8,8",
            "--model", "conv(4,3,padding=1),relu,maxpool(2),flatten,linear(10)", "--epochs", "2", "--batch-size", "64", "--standardize", "--save", model).Code);
        var exported = Cli("export", "--model", model, "--out", onnx);
        Assert.True(exported.Code == 0, exported.Err);
        string native = Path.Combine(folder, "native.csv");
        string viaOnnx = Path.Combine(folder, "onnx.csv");
        Assert.Equal(0, Cli("predict", "--device", "cpu", "--model", model, "--data", data, "--out", native).Code);
        var predicted = Cli("predict", "--model", onnx, "--data", data, "--out", viaOnnx);
        Assert.True(predicted.Code == 0, predicted.Err);
        Assert.Equal(File.ReadAllLines(native), File.ReadAllLines(viaOnnx));
    }

    [Fact]
    public void BadExportsAreOneLineErrorsAndLeaveNoFile()
    {
        string junk = Path.Combine(folder, "junk.safetensors");
        File.WriteAllText(junk, "not a model");
        var notModel = Cli("export", "--model", junk, "--out", Path.Combine(folder, "a.onnx"));
        Assert.Equal(1, notModel.Code);
        Assert.Contains("not a valid safetensors file", notModel.Err);
        var noFolder = Cli("export", "--model", junk, "--out", "/no/such/dir/m.onnx");
        Assert.Equal(1, noFolder.Code);
        Assert.Contains("cannot write /no/such/dir/m.onnx: the folder /no/such/dir does not exist", noFolder.Err);
        Assert.Empty(Directory.GetFiles(folder, "*.onnx"));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void ALayerOnnxExportDoesNotCoverIsNamed()
    {
        using var model = new Sequential(new TensorShape(3), new Squared(), new Linear(3, 1)).To(devices.Host);
        var info = new ModelInfo("mse", ["a", "b", "c"], ["y"]);
        string path = Path.Combine(folder, "custom.onnx");
        var error = Assert.Throws<NotSupportedException>(() => OnnxExport.Save(path, model, info));
        Assert.Contains("ONNX export does not cover layer 0, Squared()", error.Message);
        Assert.False(File.Exists(path));
    }

    private static float[] Probabilities(float[] logits, string loss, int classes)
    {
        if (loss == "bce")
            return [.. logits.Select(v => (float)(1 / (1 + Math.Exp(-v))))];
        var result = new float[logits.Length];
        for (int r = 0; r < logits.Length / classes; r++)
        {
            var row = logits.AsSpan(r * classes, classes);
            double max = row.ToArray().Max(), sum = row.ToArray().Sum(v => Math.Exp(v - max));
            for (int j = 0; j < classes; j++)
                result[r * classes + j] = (float)(Math.Exp(row[j] - max) / sum);
        }

        return result;
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandLine.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A layer defined outside the project (x^2), which the exporter does not know.</summary>
    private sealed class Squared : Module
    {
        public override string TypeName => "Squared";

        public override LayerSpec Spec => throw new NotSupportedException();

        public override TensorShape OutputShapeFor(TensorShape input) => input;

        public override Tensor Forward(Tensor input) => input;

        public override Tensor? Backward(Tensor gradOutput) => gradOutput;

        public override string ToString() => "Squared()";
    }
}
