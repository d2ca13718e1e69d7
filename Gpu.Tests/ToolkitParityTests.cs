using System.Text.Json;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>
/// Whole `gpu train` runs with the training toolkit against the same runs in PyTorch 1.13
/// (Fixtures/make_toolkit_fixtures.py): AdamW with warmup and cosine decay and norm clipping; SGD
/// with the one-cycle policy (momentum cycled) and value clipping; centered RMSprop with momentum on
/// a Huber loss with a plateau schedule; SGD with accumulation, an L2 penalty, clipping and a step
/// decay. Per-epoch losses, learning rates and gradient norms from the report, and the final weights,
/// agree to 1e-5 relative.
/// </summary>
[Collection(EnvironmentCollection.Name)]
public sealed class ToolkitParityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-toolkit-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("cosine_clip_adamw")]
    [InlineData("onecycle_sgd")]
    [InlineData("plateau_rmsprop_huber")]
    [InlineData("step_accumulate_l2")]
    public void TheCommandLineTrainsAsPyTorchDoes(string name)
    {
        using var doc = Fixture.Json("toolkit_cases.json");
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        string report = Path.Combine(folder, "report.json"), model = Path.Combine(folder, "final.safetensors");
        string[] args =
        [
            "train", "--device", "cpu", "--data", Fixture.PathOf($"{name}_train.csv"), "--val", Fixture.PathOf($"{name}_val.csv"),
            "--target", string.Join(",", c.GetProperty("targets").EnumerateArray().Select(e => e.GetString())),
            "--init", Fixture.PathOf($"{name}_init.safetensors"), "--no-shuffle", "--save", model, "--report", report,
            .. c.GetProperty("flags").EnumerateArray().Select(e => e.GetString()!),
        ];
        var result = Run(args);
        Assert.True(result.Code == 0, result.Err);

        using var json = JsonDocument.Parse(File.ReadAllText(report));
        var ours = json.RootElement.GetProperty("epochs").EnumerateArray().ToList();
        var torch = c.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(torch.Count, ours.Count);
        for (int e = 0; e < torch.Count; e++)
        {
            foreach (var (key, field) in new[] { ("loss", "loss"), ("val_loss", "val_loss"), ("lr", "lr"), ("grad_norm", "grad_norm") })
                Numerics.AssertClose(torch[e].GetProperty(key).GetDouble(), ours[e].GetProperty(field).GetDouble(), 1e-7, 1e-5, $"{name} epoch {e} {key}");
        }

        var expected = SafeTensors.Read(Fixture.PathOf($"{name}_final.safetensors")).Tensors;
        var actual = SafeTensors.Read(model).Tensors;
        foreach (var (key, tensor) in expected)
            Numerics.AssertClose(tensor.Data, actual[key].Data, 1e-6, 1e-5, $"{name} final {key}");
    }
}
