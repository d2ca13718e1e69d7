using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Every layer's forward and backward against PyTorch 1.13 (Fixtures/make_layer_fixtures.py): for
/// a random input x and output gradient g, the output, the input gradient and the parameter
/// gradients of module(x) then y.backward(g), on every device profile. Awkward sizes are
/// included: odd kernels, strides and padding, 1 and 3 channels, batch 1, overlapping pools.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class LayerTests(DeviceFixture devices)
{
    private static readonly Lazy<SafeTensorsFile> Tensors = new(() => SafeTensors.Read(Fixture.PathOf("layers.safetensors")));

    public static TheoryData<string, string> Cases()
    {
        using var doc = Fixture.Json("layer_cases.json");
        var data = new TheoryData<string, string>();
        foreach (var profile in new[] { "host", "fast", "gpulike" })
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateObject())
                data.Add(profile, c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchPyTorch(string profile, string name)
    {
        using var doc = Fixture.Json("layer_cases.json");
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        var spec = LayerSpec.FromJson($"[{c.GetProperty("spec").GetRawText()}]").Single();
        var inputShape = new TensorShape(c.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        var parameters = c.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();
        var t = Tensors.Value.Tensors;
        var device = devices.Get(profile);

        using var model = new Sequential(inputShape, spec.Create()) { InputRequiresGrad = true }.To(device);
        if (parameters.Count > 0)
            model.LoadStateDict(parameters.ToDictionary(p => $"0.{p}", p => (t[$"{name}.{p}"].Shape, t[$"{name}.{p}"].Data)));
        var x = t[$"{name}.x"];
        using var input = device.FromArray(x.Data, x.Shape);
        model.Parameters().ZeroGrad();
        var y = model.Forward(input);
        Assert.Equal(t[$"{name}.y"].Shape, y.Shape.ToArray());
        Numerics.AssertClose(t[$"{name}.y"].Data, y.ToArray(), 1e-6, 1e-5, $"{name} output");

        var g = t[$"{name}.g"];
        using var gradOutput = device.FromArray(g.Data, g.Shape);
        var dx = model.Backward(gradOutput)!;
        Assert.Equal(x.Shape, dx.Shape.ToArray());
        Numerics.AssertClose(t[$"{name}.dx"].Data, dx.ToArray(), 1e-6, 1e-5, $"{name} input gradient");
        foreach (var p in parameters)
            Numerics.AssertClose(t[$"{name}.d{p}"].Data, model.Parameters().Find($"0.{p}")!.Grad.ToArray(), 1e-5, 1e-5, $"{name} d{p}");
    }

    [Fact]
    public void EveryLayerTypeHasAFixture()
    {
        using var doc = Fixture.Json("layer_cases.json");
        var covered = doc.RootElement.GetProperty("cases").EnumerateObject().Select(c => c.Value.GetProperty("spec").GetProperty("type").GetString()).ToHashSet();
        var missing = LayerSpec.KnownTypes.Where(type => type != "Linear" && !covered.Contains(type)).ToList();
        Assert.True(missing.Count == 0, $"no PyTorch fixture for {string.Join(", ", missing)} (Linear is covered by the training fixtures)");
    }

    [Fact]
    public void DropoutIsTheIdentityInEvaluationModeAndDrawsItsRateInTraining()
    {
        var device = devices.Host;
        using var model = new Sequential(new TensorShape(1000), new Dropout(0.25)) { InputRequiresGrad = true }.To(device, seed: 7);
        using var x = device.FromArray(Enumerable.Repeat(1f, 4000).ToArray(), 4, 1000);
        var kept = model.Forward(x).ToArray();
        double dropped = kept.Count(v => v == 0f) / 4000.0;
        Assert.InRange(dropped, 0.22, 0.28);
        Assert.All(kept.Where(v => v != 0f), v => Assert.Equal(1f / 0.75f, v));
        var second = model.Forward(x).ToArray();
        Assert.NotEqual(kept, second); // a new mask every step

        model.Eval();
        Assert.Same(x, model.Forward(x));
        Assert.Same(x, model.Backward(x));
    }

    [Theory]
    [InlineData("host")]
    [InlineData("fast")]
    public void DropoutMasksAreTheSameOnEveryDeviceAndForEverySplitOfABatch(string profile)
    {
        // Rows 2..5 of one batch drawn on their own (a second process's share) equal the same rows drawn together.
        var device = devices.Get(profile);
        using var whole = new Sequential(new TensorShape(3, 4), new Dropout(0.5)).To(device, seed: 3);
        using var part = new Sequential(new TensorShape(3, 4), new Dropout(0.5)).To(devices.Host, seed: 3);
        using var x = device.FromArray(Enumerable.Range(1, 6 * 12).Select(i => (float)i).ToArray(), 6, 3, 4);
        using var xPart = devices.Host.FromArray(Enumerable.Range(1 + 2 * 12, 4 * 12).Select(i => (float)i).ToArray(), 4, 3, 4);
        whole.SetRandomPosition(5, 0);
        part.SetRandomPosition(5, 2);
        var all = whole.Forward(x).ToArray();
        Assert.Equal(all[(2 * 12)..], part.Forward(xPart).ToArray());
    }

    [Fact]
    public void ShapesAreCheckedWhenTheModelIsBuiltWithAMessageNamingTheLayerAndBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(1, 8, 8),
            new Conv2d(1, 4, 3, padding: 1), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(100, 10)));
        Assert.Contains("layer 4", e.Message);
        Assert.Contains("Linear(in_features=100", e.Message);
        Assert.Contains("(N, 64)", e.Message);
        Assert.Contains("(N, 100)", e.Message);

        var channels = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(3, 8, 8), new Conv2d(1, 4, 3)));
        Assert.Contains("(N, 3, 8, 8)", channels.Message);
        var tooSmall = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(1, 2, 2), new MaxPool2d(3)));
        Assert.Contains("smaller than the 3x3 window", tooSmall.Message);
        var unknown = Assert.Throws<ArgumentException>(() => new Sequential(new Conv2d(1, 4, 3), new Flatten()));
        Assert.Contains("cannot be inferred", unknown.Message);
    }

    [Fact]
    public void SpecsRoundTripThroughJsonAndRebuildTheSameArchitecture()
    {
        var model = new Sequential(new TensorShape(3, 16, 16),
            new Conv2d(3, 8, 3, stride: 2, padding: 1), new GELU(), new AvgPool2d(2), new Conv2d(8, 4, 1, bias: false), new LeakyReLU(0.2f),
            new MaxPool2d(2, 1), new Flatten(), new Dropout(0.1), new Linear(36, 5), new Tanh(), new Linear(5, 2), new Sigmoid());
        string json = LayerSpec.ToJson(model.Specs);
        var rebuilt = Sequential.FromSpecs(LayerSpec.FromJson(json), model.InputShape);
        Assert.Equal(model.Specs, rebuilt.Specs);
        Assert.Equal(model.ToString(), rebuilt.ToString());
        Assert.Equal(model.ParameterLayout.Select(p => (p.Name, p.Shape.ToString())), rebuilt.ParameterLayout.Select(p => (p.Name, p.Shape.ToString())));
        Assert.StartsWith("[{\"type\":\"Conv2d\",\"in_channels\":3", json);
        var unknown = Assert.Throws<NotSupportedException>(() => LayerSpec.FromJson("[{\"type\":\"Conv3d\"}]"));
        Assert.Contains("unknown type 'Conv3d'", unknown.Message);
    }

    [Fact]
    public void NamesParametersAsPyTorchsSequentialDoes()
    {
        var model = new Sequential(new TensorShape(1, 8, 8), new Conv2d(1, 2, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(18, 3));
        Assert.Equal(["0.weight", "0.bias", "4.weight", "4.bias"], model.ParameterLayout.Select(p => p.Name));
        Assert.Equal(new TensorShape(2, 1, 3, 3), model.ParameterLayout[0].Shape);
    }
}
