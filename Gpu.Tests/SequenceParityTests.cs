using System.Text;
using System.Text.Json;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>
/// Whole `gpu train` runs of sequence models against the same runs in PyTorch 1.13
/// (Fixtures/make_sequence_fixtures.py): an LSTM regressor and a two-layer GRU classifier from CSV
/// rows of time steps, a byte-level LSTM language model from --text with the tail of its windows
/// held out, and a two-block GPT (AdamW, warmup and cosine decay, clipping; learning rates and
/// gradient norms compared too). Per-epoch losses and the final weights agree to 1e-5 relative; a language model's
/// greedy continuation (40 bytes from a 14-byte prompt with a context of 16: cropped as nanoGPT
/// crops) is the one PyTorch's model writes.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class SequenceParityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-sequence-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("lstm_regressor")]
    [InlineData("gru_classifier")]
    [InlineData("byte_lstm_lm")]
    [InlineData("gpt")]
    public void TheCommandLineTrainsSequenceModelsAsPyTorchDoes(string name)
    {
        var c = Case(name);
        string model = Train(name, c);

        var expected = SafeTensors.Read(Fixture.PathOf($"{name}_final.safetensors")).Tensors;
        var actual = SafeTensors.Read(model).Tensors;
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, tensor) in expected)
        {
            if (key.EndsWith(".qkv.bias", StringComparison.Ordinal))
            {
                // The key bias's gradient is zero in exact arithmetic (adding q . b_k to every score
                // of a row leaves its softmax unchanged), so each side's rounding noise is all AdamW
                // sees, and it steps by about lr either way: the q and v parts are compared.
                int width = tensor.Data.Length / 3;
                Numerics.AssertClose(tensor.Data.AsSpan(0, width), actual[key].Data.AsSpan(0, width), 1e-6, 1e-5, $"{name} final {key} (q)");
                Numerics.AssertClose(tensor.Data.AsSpan(2 * width), actual[key].Data.AsSpan(2 * width), 1e-6, 1e-5, $"{name} final {key} (v)");
                continue;
            }

            Numerics.AssertClose(tensor.Data, actual[key].Data, 1e-6, 1e-5, $"{name} final {key}");
        }
    }

    [Fact]
    public void GreedyGenerationContinuesThePromptAsPyTorchsModelDoes()
    {
        // A longer run than byte_lstm_lm's, so that the model writes more than newlines; its losses
        // are checked, its weights are not (over 168 Adam steps float32 rounding moves both sides' by
        // a few 1e-5, ours no further from a float64 run than PyTorch's).
        var c = Case("byte_lstm_lm_long");
        string model = Train("byte_lstm_lm_long", c);
        var greedy = c.GetProperty("greedy").EnumerateArray().Select(e => (byte)e.GetInt32()).ToArray();

        var result = Run("generate", "--device", "cpu", "--model", model, "--prompt", c.GetProperty("prompt").GetString()!,
            "--tokens", greedy.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), "--temperature", "0");

        Assert.True(result.Code == 0, result.Err);
        Assert.Equal(Encoding.UTF8.GetString(greedy) + Environment.NewLine, result.Out);
        Assert.Contains($"Generated {greedy.Length} tokens", result.Err);
    }

    private static JsonElement Case(string name)
    {
        using var doc = Fixture.Json("sequence_cases.json");
        return doc.RootElement.GetProperty("cases").GetProperty(name).Clone();
    }

    // Trains the case through the command line, checks its per-epoch losses, returns the saved model.
    private string Train(string name, JsonElement c)
    {
        string report = Path.Combine(folder, "report.json"), model = Path.Combine(folder, "final.safetensors");
        string[] data = c.TryGetProperty("text", out var text)
            ? ["--text", Fixture.PathOf(text.GetString()!)]
            : ["--data", Fixture.PathOf($"{name}_train.csv"), "--val", Fixture.PathOf($"{name}_val.csv")];
        string[] args =
        [
            "train", "--device", "cpu", .. data, "--init", Fixture.PathOf($"{name}_init.safetensors"), "--no-shuffle",
            "--save", model, "--report", report, .. c.GetProperty("flags").EnumerateArray().Select(e => e.GetString()!),
        ];
        var result = Run(args);
        Assert.True(result.Code == 0, result.Err);

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var ours = json.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var torch = c.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(torch.Count, ours.Count);
        for (int e = 0; e < torch.Count; e++)
        {
            foreach (var key in new[] { "loss", "val_loss", "lr", "grad_norm" }.Where(k => torch[e].TryGetProperty(k, out _)))
                Numerics.AssertClose(torch[e].GetProperty(key).GetDouble(), ours[e].GetProperty(key).GetDouble(), 1e-7, 1e-5, $"{name} epoch {e} {key}");
        }

        if (c.TryGetProperty("windows", out var windows))
        {
            var tokens = json.RootElement.GetProperty("data").GetProperty("tokens");
            Assert.Equal(windows.GetInt32() - c.GetProperty("validation_windows").GetInt32(), tokens.GetProperty("windows").GetInt32());
            Assert.Equal(c.GetProperty("validation_windows").GetInt32(), tokens.GetProperty("validation_windows").GetInt32());
            Assert.Equal(256, tokens.GetProperty("vocabulary").GetInt32());
            double bits = ours[^1].GetProperty("val_loss").GetDouble() / Math.Log(2);
            Assert.Equal(bits, ours[^1].GetProperty("val_bits_per_token").GetDouble(), 12);
        }

        return model;
    }
}
