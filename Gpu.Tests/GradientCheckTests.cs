using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Backward passes checked through whole models against central finite differences of the loss
/// with respect to every parameter and every input, on the default host device and on the kernels:
/// MLPs with each loss, and a CNN with every layer type (convolutions with stride and padding,
/// both poolings, the smooth activations, Flatten).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GradientCheckTests(DeviceFixture devices)
{
    [SkippableTheory]
    [InlineData("host", "mse", 1)]
    [InlineData("host", "mse", 3)]
    [InlineData("host", "bce", 2)]
    [InlineData("host", "ce", 4)]
    [InlineData("fast", "mse", 3)]
    [InlineData("fast", "bce", 2)]
    [InlineData("fast", "ce", 4)]
    [InlineData("cuda", "mse", 3)]
    [InlineData("cuda", "ce", 4)]
    public void MlpGradientsMatchFiniteDifferences(string profile, string lossName, int outputs)
    {
        const int batch = 6, inputs = 5;
        float[] targets = lossName switch
        {
            "ce" => [0f, 3f, 1f, 2f, 2f, 0f],
            "bce" => Numerics.Random(batch * outputs, 2).Select(v => (v + 1) / 2).ToArray(),
            _ => Numerics.Random(batch * outputs, 2),
        };
        var model = new Sequential(new Linear(inputs, 7), new ReLU(), new Linear(7, 4), new ReLU(), new Linear(4, outputs));
        Check(devices.Get(profile), model, lossName, Numerics.Random(batch * inputs, 1, scale: 2f), targets, lossName == "ce" ? 1 : outputs, 3e-3f);
    }

    [SkippableTheory]
    [InlineData("host")]
    [InlineData("fast")]
    [InlineData("cuda")]
    public void CnnGradientsMatchFiniteDifferences(string profile)
    {
        const int batch = 3;
        var model = new Sequential(new TensorShape(2, 7, 6),
            new Conv2d(2, 3, 3, stride: 2, padding: 1), new GELU(), new AvgPool2d(2, 1),
            new Conv2d(3, 4, 2, padding: 1), new Tanh(), new MaxPool2d(2),
            new Flatten(), new LeakyReLU(0.1f), new Linear(8, 5), new Sigmoid(), new Linear(5, 3));
        float[] labels = [2f, 0f, 1f];
        Check(devices.Get(profile), model, "ce", Numerics.Random(batch * 2 * 7 * 6, 4, scale: 1.5f), labels, 1, 2e-3f);
    }

    [Fact]
    public void GradientsAccumulateUntilZeroed()
    {
        var device = devices.Fast;
        using var model = new Sequential(new Linear(3, 2)).To(device, seed: 1);
        using var loss = new MSELoss();
        using var x = device.FromArray(Numerics.Random(12, 5), 4, 3);
        using var y = device.FromArray(Numerics.Random(8, 6), 4, 2);
        var p = model.Parameters();
        p.ZeroGrad();
        loss.Forward(model.Forward(x), y);
        model.Backward(loss.Backward());
        var once = p.Gradients.ToArray();
        loss.Forward(model.Forward(x), y);
        model.Backward(loss.Backward());
        Numerics.AssertClose(once.Select(v => 2 * v).ToArray(), p.Gradients.ToArray(), 1e-7, 1e-6, "accumulated");
        p.ZeroGrad();
        Assert.All(p.Gradients.ToArray(), v => Assert.Equal(0f, v));
    }

    // The analytic gradients of the loss with respect to every parameter and every input element,
    // against central differences (float32: h trades rounding against curvature and kinks).
    private static void Check(Device device, Sequential model, string lossName, float[] input, float[] targets, int targetColumns, float h)
    {
        using var _ = model;
        model.InputRequiresGrad = true;
        model.To(device, seed: 3);
        using var loss = Loss.FromName(lossName);
        int batch = targets.Length / targetColumns;
        using var x = device.FromArray(input, [batch, .. model.InputShape.ToArray()]);
        using var y = device.FromArray(targets, batch, targetColumns);

        var parameters = model.Parameters();
        parameters.ZeroGrad();
        loss.Forward(model.Forward(x), y);
        var dx = model.Backward(loss.Backward())!.ToArray();
        var dp = parameters.Gradients.ToArray();

        double LossAtParameters(float[] p)
        {
            parameters.Values.CopyFrom(p);
            return loss.Forward(model.Forward(x), y).Item();
        }

        var values = parameters.Values.ToArray();
        Numerics.AssertMatchesCentralDifferences(values, LossAtParameters, dp, h, 3e-4, 3e-2, i => $"{lossName} d/d{ParameterName(parameters, i)}");
        parameters.Values.CopyFrom(values);

        double LossAtInput(float[] at)
        {
            x.CopyFrom(at);
            return loss.Forward(model.Forward(x), y).Item();
        }

        Numerics.AssertMatchesCentralDifferences(input, LossAtInput, dx, h, 3e-4, 3e-2, i => $"{lossName} d/dx[{i}]");
    }

    private static string ParameterName(ParameterCollection parameters, int flatIndex)
    {
        int offset = 0;
        foreach (var p in parameters)
        {
            if (flatIndex < offset + p.Shape.Length)
                return $"{p.Name}[{flatIndex - offset}]";
            offset += p.Shape.Length;
        }

        return flatIndex.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
