using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Backward passes of Linear, ReLU and every loss, checked through a whole model against central
/// finite differences of the loss with respect to each parameter and each input.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GradientCheckTests(DeviceFixture devices)
{
    [Theory]
    [InlineData("mse", 1)]
    [InlineData("mse", 3)]
    [InlineData("bce", 2)]
    [InlineData("ce", 4)]
    public void ParameterGradientsMatchFiniteDifferences(string lossName, int outputs)
    {
        var device = devices.Fast;
        const int batch = 6, inputs = 5;
        using var model = new Sequential(new Linear(inputs, 7), new ReLU(), new Linear(7, 4), new ReLU(), new Linear(4, outputs)).To(device, seed: 3);
        using var loss = Loss.FromName(lossName);
        var xData = Numerics.Random(batch * inputs, 1, scale: 2f);
        float[] yData = lossName switch
        {
            "ce" => [0f, 3f, 1f, 2f, 2f, 0f],
            "bce" => Numerics.Random(batch * outputs, 2).Select(v => (v + 1) / 2).ToArray(),
            _ => Numerics.Random(batch * outputs, 2),
        };
        using var x = device.FromArray(xData, batch, inputs);
        using var y = device.FromArray(yData, lossName == "ce" ? [batch, 1] : [batch, outputs]);

        var parameters = model.Parameters();
        parameters.ZeroGrad();
        loss.Forward(model.Forward(x), y);
        model.Backward(loss.Backward());
        var analytic = parameters.Gradients.ToArray();
        var values = parameters.Values.ToArray();

        double LossAt(float[] p)
        {
            parameters.Values.CopyFrom(p);
            return loss.Forward(model.Forward(x), y).Item();
        }

        // Central differences in float32: h trades rounding against curvature (and ReLU kinks).
        const float h = 3e-3f;
        for (int i = 0; i < values.Length; i++)
        {
            var plus = (float[])values.Clone();
            plus[i] += h;
            var minus = (float[])values.Clone();
            minus[i] -= h;
            double numeric = (LossAt(plus) - LossAt(minus)) / (2 * h);
            Numerics.AssertClose(numeric, analytic[i], 3e-4, 3e-2, $"{lossName} d/d{ParameterName(parameters, i)}");
        }
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

    [Fact]
    public void InputGradientMatchesFiniteDifferences()
    {
        // The first layer skips dX in training; a ReLU-first model still needs none. Check dX of a
        // Linear that is not first, through ReLU, by perturbing the hidden activations' producer.
        var device = devices.Fast;
        var first = new Linear(2, 3);
        var relu = new ReLU();
        var second = new Linear(3, 1);
        using var model = new Sequential(first, relu, second).To(device, seed: 5);
        using var loss = new MSELoss();
        using var x = device.FromArray([0.5f, -1.5f, 2f, 0.25f], 2, 2);
        using var y = device.FromArray([1f, -1f], 2, 1);
        var hidden = relu.Forward(first.Forward(x));
        var hiddenHost = hidden.ToArray();
        loss.Forward(second.Forward(hidden), y);
        var dHidden = second.Backward(loss.Backward())!.ToArray();

        using var probe = device.Zeros(2, 3);
        const float h = 1e-3f;
        for (int i = 0; i < hiddenHost.Length; i++)
        {
            var plus = (float[])hiddenHost.Clone();
            plus[i] += h;
            var minus = (float[])hiddenHost.Clone();
            minus[i] -= h;
            probe.CopyFrom(plus);
            double up = loss.Forward(second.Forward(probe), y).Item();
            probe.CopyFrom(minus);
            double down = loss.Forward(second.Forward(probe), y).Item();
            Numerics.AssertClose((up - down) / (2 * h), dHidden[i], 1e-4, 1e-2, $"dX[{i}]");
        }
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
