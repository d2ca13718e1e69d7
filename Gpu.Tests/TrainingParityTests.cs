using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Whole training runs against PyTorch 1.13 from the same initial weights and data (fixtures made by
/// Fixtures/make_training_fixtures.py): per-epoch losses and final weights agree to 1e-5 relative.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class TrainingParityTests(DeviceFixture devices)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var profile in new[] { "host", "fast", "cuda", "cuda-kernels" })
            foreach (var name in new[] { "reference", "sgd_momentum", "adamw", "cross_entropy", "bce" })
                data.Add(profile, name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorchEpochByEpoch(string profile, string name) => Run(devices.Get(profile), name);

    /// <summary>
    /// A small CNN on real digits (conv, relu, maxpool, conv, relu, maxpool, flatten, linear), an
    /// MLP with GELU, Dropout (PyTorch applying our masks) and Tanh, validated in evaluation mode,
    /// and MLPs trained with L1 and L2 penalties that PyTorch adds to the loss (Adam, SGD with momentum).
    /// </summary>
    [SkippableTheory]
    [InlineData("host", "cnn")]
    [InlineData("fast", "cnn")]
    [InlineData("host", "dropout_mlp")]
    [InlineData("fast", "dropout_mlp")]
    [InlineData("cuda", "cnn")]
    [InlineData("cuda-kernels", "cnn")]
    [InlineData("cuda", "dropout_mlp")]
    [InlineData("host", "l1l2_adam")]
    [InlineData("fast", "l1l2_adam")]
    [InlineData("host", "l1l2_sgd")]
    [InlineData("fast", "l1l2_sgd")]
    [InlineData("cuda", "l1l2_sgd")]
    public void LayerModelsMatchPyTorchEpochByEpoch(string profile, string name) => Run(devices.Get(profile), name, cases: "layer_training_cases.json");

    /// <summary>
    /// The first epochs on the GPU-like CPU profile (tiled matmul, 256-thread group reductions). The
    /// CPU accelerator emulates 256 threads per group with OS threads, about 1 s per epoch here, so
    /// the whole runs are left to the fast profile and to CUDA.
    /// </summary>
    [SkippableTheory]
    [InlineData("reference")]
    [InlineData("cross_entropy")]
    public void MatchesPyTorchOnTheGpuLikeProfile(string name) => Run(devices.GpuLike, name, epochs: 2);

    [Fact]
    public void CnnMatchesPyTorchOnTheGpuLikeProfile() => Run(devices.GpuLike, "cnn", epochs: 1, cases: "layer_training_cases.json");

    /// <summary>Trains one fixture case on a device and compares with PyTorch (all epochs, or the first few).</summary>
    internal static void Run(Device device, string name, int? epochs = null, string cases = "training_cases.json")
    {
        using var doc = Fixture.Json(cases);
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        var targets = c.GetProperty("targets").EnumerateArray().Select(e => e.GetString()!).ToList();
        var train = DataLoader.Load(Fixture.PathOf($"{name}_train.csv"), targets);
        var validation = DataLoader.Load(Fixture.PathOf($"{name}_val.csv"), targets);

        using var model = Build(c).To(device);
        ModelFile.LoadWeights(Fixture.PathOf($"{name}_init.safetensors"), model);
        using var loss = Loss.FromName(c.GetProperty("loss").GetString()!);
        using var optimizer = CreateOptimizer(c, model.Parameters());
        // The L1/L2 penalties PyTorch added to the loss (fixtures of make_layer_fixtures.py).
        double l1 = c.TryGetProperty("l1", out var p1) ? p1.GetDouble() : 0, l2 = c.TryGetProperty("l2", out var p2) ? p2.GetDouble() : 0;
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(
            Epochs: epochs ?? c.GetProperty("epochs").GetInt32(), BatchSize: c.GetProperty("batch_size").GetInt32(), Shuffle: false, L1: l1, L2: l2));
        var history = trainer.Fit(train, validation);

        var expected = File.ReadAllLines(Fixture.PathOf($"{name}_losses.csv")).Skip(1)
            .Select(l => l.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        Assert.Equal(epochs ?? expected.Count, history.Epochs.Count);
        for (int e = 0; e < history.Epochs.Count; e++)
        {
            Numerics.AssertClose(expected[e][1], history.Epochs[e].Loss, 1e-7 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} epoch {e} loss");
            Numerics.AssertClose(expected[e][2], history.Epochs[e].ValLoss!.Value, 1e-7 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} epoch {e} val loss");
        }

        if (epochs is not null)
            return;
        var final = SafeTensors.Read(Fixture.PathOf($"{name}_final.safetensors"));
        var ours = model.StateDict();
        Assert.Equal(final.Tensors.Keys.Order(), ours.Keys.Order());
        foreach (var (key, tensor) in final.Tensors)
            Numerics.AssertClose(tensor.Data, ours[key], 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} final {key}");
    }

    // An MLP from its widths, or any architecture from its layer records and input shape.
    private static Sequential Build(JsonElement c)
    {
        if (c.TryGetProperty("architecture", out var architecture))
        {
            var shape = c.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            return Sequential.FromSpecs(LayerSpec.FromJson(architecture.GetRawText()), new TensorShape(shape));
        }

        var layers = c.GetProperty("layers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return Sequential.Mlp(layers[0], layers[1..^1], layers[^1]);
    }

    private static Optimizer CreateOptimizer(JsonElement c, ParameterCollection parameters)
    {
        var o = c.GetProperty("options");
        double Get(string key, double fallback) => o.TryGetProperty(key, out var v) ? v.GetDouble() : fallback;
        bool amsgrad = o.TryGetProperty("amsgrad", out var a) && a.GetBoolean();
        return c.GetProperty("optimizer").GetString() switch
        {
            "adam" => new Adam(parameters, new AdamOptions(Lr: Get("lr", 1e-3), WeightDecay: Get("weight_decay", 0), Amsgrad: amsgrad)),
            "adamw" => new AdamW(parameters, new AdamWOptions(Lr: Get("lr", 1e-3), WeightDecay: Get("weight_decay", 0.01), Amsgrad: amsgrad)),
            _ => new SGD(parameters, new SGDOptions(Lr: Get("lr", 1e-3), Momentum: Get("momentum", 0))),
        };
    }
}
