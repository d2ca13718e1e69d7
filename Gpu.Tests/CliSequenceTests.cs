using System.Buffers.Binary;
using System.Text.Json;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>
/// Sequence models through the command line: llm.c token files, generate's flags and output,
/// predict and export on a sequence model from CSV, and every bad input the sequence flags meet
/// (one line, exit 2).
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class CliSequenceTests : IDisposable
{
    private const string LanguageModel = "embedding(8),lstm(8),linear(256)";
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-cli-sequence-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static string Text => Fixture.PathOf("sequence_text.txt");

    [Fact]
    public void TextAndDataTogetherAreRefused() =>
        AssertOneLineError(Run("train", "--text", Text, "--data", Fixture.PathOf("reference_train.csv"), "--context", "8", "--model", LanguageModel, "--loss", "ce"),
            2, "--data, --text and --tokens cannot be used together");

    [Fact]
    public void TokenDataNeedsAContext() =>
        AssertOneLineError(Run("train", "--text", Text, "--model", LanguageModel, "--loss", "ce"), 2, "--text needs --context T");

    [Fact]
    public void AContextLongerThanTheDataIsNamed() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--text", Text, "--context", "3000", "--model", LanguageModel, "--loss", "ce"),
            2, "--context 3000 is too long for --text");

    [Fact]
    public void ATokenIdBeyondTheEmbeddingsVocabularyIsNamed() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--text", Text, "--context", "8", "--model", "embedding(8,vocab=100),lstm(8),linear(256)", "--loss", "ce"),
            2, "token id 122 is not below the embedding's vocabulary of 100");

    [Fact]
    public void TokenDataNeedsALossOverClassIndices() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--text", Text, "--context", "8", "--model", LanguageModel), 2, "--loss mse: token data trains a language model");

    [Theory]
    [InlineData(12345, 1, 20, 20, "not an llm.c token file (magic 12345, expected 20240520)")]
    [InlineData(20240520, 1, 500, 20, "the header says 500 tokens but the file holds 20")]
    public void BrokenLlmcFilesAreNamed(int magic, int version, int count, int stored, string problem)
    {
        string file = WriteLlmc("bad.bin", magic, version, count, [.. Enumerable.Range(0, stored).Select(i => (ushort)i)]);
        AssertOneLineError(Run("train", "--device", "cpu", "--tokens", file, "--context", "4", "--model", "embedding(4),linear(20)", "--loss", "ce"), 2, $"{file}: {problem}");
    }

    [Fact]
    public void LastNeedsASequence() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--data", Fixture.PathOf("reference_train.csv"), "--model", "last,linear(1)"), 2, "last takes a sequence (N, T, H) but gets (N, 10)");

    [Fact]
    public void AnLstmAfterFlattenIsNamed() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--data", Fixture.PathOf("lstm_regressor_train.csv"), "--target", "y", "--input-shape", "6,3",
            "--model", "flatten,lstm(4),last,linear(1)"), 2, "lstm takes a sequence (N, T, features) but gets (N, 18)");

    [Theory]
    [InlineData("embedding(16),attention(3),linear(256)", "3 heads do not divide the width 16")]
    [InlineData("embedding(16),posembedding(context=8),linear(256)", "posembedding's table of 8 positions is shorter than the sequences' 16 steps")]
    [InlineData("embedding(16),residual(layernorm,linear(32)),linear(256)", "a residual block must give back its input's shape")]
    public void BadTransformerLayersAreNamed(string model, string problem) =>
        AssertOneLineError(Run("train", "--device", "cpu", "--text", Text, "--context", "16", "--model", model, "--loss", "ce"), 2, problem);

    [Fact]
    public void AttentionNeedsASequence() =>
        AssertOneLineError(Run("train", "--device", "cpu", "--data", Fixture.PathOf("reference_train.csv"), "--model", "attention(2),linear(1)"), 2,
            "attention takes a sequence (N, T, D) but gets (N, 10)");

    [Fact]
    public void LlmcTokensTrainAModelThatGeneratesIds()
    {
        // A repeating pattern over ids up to 300: a vocabulary beyond a byte's, learned within a few epochs.
        ushort[] pattern = [5, 300, 17, 42, 299, 8];
        string file = WriteLlmc("train.bin", 20240520, 1, 600, [.. Enumerable.Range(0, 600).Select(i => pattern[i % pattern.Length])]);
        string model = Path.Combine(folder, "ids.safetensors"), report = Path.Combine(folder, "report.json");
        var trained = Run("train", "--device", "cpu", "--tokens", file, "--context", "12", "--model", "embedding(16),lstm(32),linear(301)", "--loss", "ce",
            "--lr", "0.02", "--batch-size", "8", "--epochs", "15", "--save", model, "--report", report);
        Assert.True(trained.Code == 0, trained.Err);
        Assert.Contains("Tokens: " + file + ": 600 uint16 tokens in 1 file, vocabulary 301", trained.Out);
        using (var json = JsonDocument.Parse(File.ReadAllText(report)))
        {
            var tokens = json.RootElement.GetProperty("data").GetProperty("tokens");
            Assert.Equal("uint16", tokens.GetProperty("kind").GetString());
            Assert.Equal(49, tokens.GetProperty("windows").GetInt32()); // floor(599 / 12)
            Assert.Equal(301, tokens.GetProperty("vocabulary").GetInt32());
            Assert.True(json.RootElement.GetProperty("throughput").GetProperty("tokens_per_second").GetDouble() > 0);
        }

        AssertOneLineError(Run("generate", "--device", "cpu", "--model", model, "--prompt", "hello"), 2, "give the prompt as --prompt-ids");
        AssertOneLineError(Run("generate", "--device", "cpu", "--model", model, "--prompt-ids", "5,301"), 2, "prompt token 1 is 301, outside the vocabulary [0, 301)");
        var generated = Run("generate", "--device", "cpu", "--model", model, "--prompt-ids", "5,300,17", "--tokens", "6", "--temperature", "0");
        Assert.True(generated.Code == 0, generated.Err);
        Assert.Equal("42,299,8,5,300,17", generated.Out.Trim());
    }

    [Fact]
    public void SamplingIsSeededAndTopOneIsGreedy()
    {
        string model = TrainLanguageModel();
        string Sample(params string[] flags) => Run(["generate", "--device", "cpu", "--model", model, "--prompt", "First", "--tokens", "30", .. flags]).Out;
        Assert.Equal(Sample("--seed", "3"), Sample("--seed", "3"));
        Assert.NotEqual(Sample("--seed", "3"), Sample("--seed", "4"));
        Assert.Equal(Sample("--temperature", "0"), Sample("--top-k", "1", "--seed", "9"));
    }

    [Fact]
    public void GenerateNamesItsBadInputs()
    {
        string model = TrainLanguageModel();
        AssertOneLineError(Run("generate", "--model", model, "--prompt", ""), 2, "the prompt is empty");
        AssertOneLineError(Run("generate", "--model", model), 2, "give the prompt as --prompt TEXT or as --prompt-ids IDS");
        AssertOneLineError(Run("generate", "--model", model, "--prompt", "a", "--temperature", "-1"), 2, "the temperature must be a finite number >= 0");
        AssertOneLineError(Run("generate", "--model", model, "--prompt", "a", "--top-k", "0"), 2, "top-k must be at least 1");
        AssertOneLineError(Run("generate", "--model", model, "--prompt", "a", "--tokens", "-3"), 2, "--tokens must be at least 0");
        AssertOneLineError(Run("generate", "--model", Path.Combine(folder, "none.safetensors"), "--prompt", "a"), 1, "no such file");

        string tabular = Path.Combine(folder, "mlp.safetensors");
        Assert.Equal(0, Run("train", "--device", "cpu", "--epochs", "1", "--save", tabular).Code);
        AssertOneLineError(Run("generate", "--device", "cpu", "--model", tabular, "--prompt", "a"), 2, "was not trained on token data");
    }

    [Fact]
    public void ASequenceModelFromCsvPredictsAndExportsAsAnyModel()
    {
        string model = Path.Combine(folder, "gru.safetensors"), onnx = Path.Combine(folder, "gru.onnx");
        string data = Fixture.PathOf("gru_classifier_train.csv");
        Assert.Equal(0, Run("train", "--device", "cpu", "--data", data, "--target", "label", "--input-shape", "5,2", "--loss", "ce",
            "--model", "gru(6,layers=2),last,linear(3)", "--epochs", "3", "--batch-size", "16", "--save", model).Code);
        var exported = Run("export", "--model", model, "--out", onnx);
        Assert.True(exported.Code == 0, exported.Err);
        var native = Run("predict", "--device", "cpu", "--model", model, "--data", data);
        var viaOnnx = Run("predict", "--model", onnx, "--data", data);
        Assert.True(native.Code == 0, native.Err);
        Assert.True(viaOnnx.Code == 0, viaOnnx.Err);
        var lines = native.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("label", lines[0]);
        Assert.Equal(61, lines.Length); // the header and one class per row
        Assert.All(lines.Skip(1), line => Assert.Contains(line, new[] { "0", "1", "2" }));
        Assert.Equal(native.Out, viaOnnx.Out);
    }

    [Fact]
    public void GenerateRefusesAModelThatSeesLaterPositions()
    {
        string model = Path.Combine(folder, "full.safetensors");
        var trained = Run("train", "--device", "cpu", "--text", Text, "--context", "16", "--model", "embedding(8),attention(2,causal=false),linear(256)",
            "--loss", "ce", "--epochs", "1", "--batch-size", "32", "--save", model);
        Assert.True(trained.Code == 0, trained.Err);
        AssertOneLineError(Run("generate", "--device", "cpu", "--model", model, "--prompt", "a"), 2, "generating needs a causal model, but layer 1, attention(2,causal=false)");
    }

    private string TrainLanguageModel()
    {
        string model = Path.Combine(folder, "lm.safetensors");
        if (!File.Exists(model))
        {
            var result = Run("train", "--device", "cpu", "--text", Text, "--context", "16", "--model", LanguageModel, "--loss", "ce",
                "--batch-size", "16", "--epochs", "2", "--lr", "0.01", "--save", model);
            Assert.True(result.Code == 0, result.Err);
        }

        return model;
    }

    private string WriteLlmc(string name, int magic, int version, int count, ushort[] tokens)
    {
        var bytes = new byte[1024 + 2 * tokens.Length];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), version);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), count);
        for (int i = 0; i < tokens.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1024 + 2 * i), tokens[i]);
        string file = Path.Combine(folder, name);
        File.WriteAllBytes(file, bytes);
        return file;
    }
}
