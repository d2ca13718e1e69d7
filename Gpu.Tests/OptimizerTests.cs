using System.Text.Json;
using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>Fused optimizer steps against torch.optim (a committed fixture) and a double-precision reference.</summary>
[Collection(DeviceCollection.Name)]
public sealed class OptimizerTests(DeviceFixture devices)
{
    public static TheoryData<string, string> FixtureCases()
    {
        var data = new TheoryData<string, string>();
        using var doc = Fixture.Json("optimizers.json");
        foreach (var profile in (string[])["host", "fast", "gpulike", .. Profiles.Gpus])
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
                data.Add(profile, c.GetProperty("name").GetString()!);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(FixtureCases))]
    public void MatchesTorchOptimStepByStep(string profile, string caseName) => RunFixtureCase(devices.Get(profile), caseName);

    /// <summary>Replays one torch.optim case of the fixture on a device.</summary>
    internal static void RunFixtureCase(Device device, string caseName)
    {
        using var doc = Fixture.Json("optimizers.json");
        var root = doc.RootElement;
        var c = root.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == caseName);
        var settings = c.GetProperty("settings");
        double Get(string name, double fallback) => settings.TryGetProperty(name, out var v) ? v.GetDouble() : fallback;
        bool Flag(string name) => settings.TryGetProperty(name, out var v) && v.GetBoolean();
        string optimizer = c.GetProperty("optimizer").GetString()!;

        var initial = Fixture.Floats(root.GetProperty("initial"));
        var gradients = root.GetProperty("gradients").EnumerateArray().Select(Fixture.Floats).ToList();
        var expected = c.GetProperty("after_each_step").EnumerateArray().Select(Fixture.Floats).ToList();
        int n = initial.Length;
        using var p = device.FromArray(initial, n);
        using var g = device.Zeros(n);
        using var m = device.Zeros(n);
        using var v = device.Zeros(n);
        using var vmax = device.Zeros(n);

        for (int step = 1; step <= gradients.Count; step++)
        {
            g.CopyFrom(gradients[step - 1]);
            if (optimizer == "SGD")
            {
                var s = new SgdSettings(Get("lr", 0), Get("momentum", 0), Get("dampening", 0), Get("weight_decay", 0), Flag("nesterov"));
                Ops.SgdStep(p, g, m, step == 1, s);
            }
            else if (optimizer == "RMSprop")
            {
                // square_avg, momentum_buffer and grad_avg, each starting at zero.
                var s = new RmsPropSettings(Get("lr", 1e-2), Get("alpha", 0.99), Get("eps", 1e-8), Get("weight_decay", 0), Get("momentum", 0), Flag("centered"));
                Ops.RmsPropStep(p, g, m, v, vmax, s);
            }
            else
            {
                var betas = settings.TryGetProperty("betas", out var b) ? b.EnumerateArray().Select(e => e.GetDouble()).ToArray() : [0.9, 0.999];
                bool decoupled = optimizer == "AdamW";
                var s = new AdamSettings(Get("lr", 1e-3), betas[0], betas[1], Get("eps", 1e-8), Get("weight_decay", decoupled ? 1e-2 : 0), decoupled, Flag("amsgrad"));
                Ops.AdamStep(p, g, m, v, vmax, step, s);
            }

            Numerics.AssertClose(expected[step - 1], p.ToArray(), 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{caseName} step {step}");
        }
    }

    [SkippableTheory]
    [InlineData("fast", false, false, 0.0, 0.0)]
    [InlineData("fast", true, true, 0.01, 0.1)]
    [InlineData("fast", false, true, 0.02, 0.0)]
    [InlineData("host", false, false, 0.0, 0.0)]
    [InlineData("host", true, true, 0.01, 0.1)]
    [InlineData("host", false, true, 0.02, 0.0)]
    [InlineData("cuda", true, true, 0.01, 0.1)]
    public void AdamAfterThePenaltyGradientMatchesReference(string profile, bool decoupled, bool amsgrad, double l1, double l2)
    {
        var device = devices.Get(profile);
        const int n = 1025;
        var p0 = Numerics.Random(n, 21);
        var reference = new Reference.Adam(p0.Select(x => (double)x).ToArray(), 3e-3, 0.85, 0.995, 1e-7, 0.05, decoupled, amsgrad, l1, l2);
        using var p = device.FromArray(p0, n);
        using var g = device.Zeros(n);
        using var m = device.Zeros(n);
        using var v = device.Zeros(n);
        using var vmax = device.Zeros(n);
        var settings = new AdamSettings(3e-3, 0.85, 0.995, 1e-7, 0.05, decoupled, amsgrad);
        for (int step = 1; step <= 4; step++)
        {
            var grad = Numerics.Random(n, 30 + step);
            reference.Step(grad);
            g.CopyFrom(grad);
            Ops.AddRegularizationGradient(p, g, (float)l1, (float)l2);
            Ops.AdamStep(p, g, m, v, amsgrad ? vmax : null, step, settings);
        }

        Numerics.AssertClose(reference.Parameters.Select(x => (float)x).ToArray(), p.ToArray(), 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), "adam");
    }

    [SkippableTheory]
    [InlineData("fast", 0.0, 0.0, false, 0.0, 0.0)]
    [InlineData("fast", 0.9, 0.0, true, 0.01, 0.2)]
    [InlineData("fast", 0.5, 0.5, false, 0.0, 0.05)]
    [InlineData("host", 0.0, 0.0, false, 0.0, 0.0)]
    [InlineData("host", 0.9, 0.0, true, 0.01, 0.2)]
    [InlineData("host", 0.5, 0.5, false, 0.0, 0.05)]
    public void SgdAfterThePenaltyGradientMatchesReference(string profile, double momentum, double dampening, bool nesterov, double l1, double l2)
    {
        var device = devices.Get(profile);
        const int n = 33;
        var p0 = Numerics.Random(n, 41);
        var reference = new Reference.Sgd(p0.Select(x => (double)x).ToArray(), 0.1, momentum, dampening, 0.001, nesterov, l1, l2);
        using var p = device.FromArray(p0, n);
        using var g = device.Zeros(n);
        using var buffer = device.Zeros(n);
        var settings = new SgdSettings(0.1, momentum, dampening, 0.001, nesterov);
        for (int step = 1; step <= 4; step++)
        {
            var grad = Numerics.Random(n, 50 + step);
            reference.Step(grad);
            g.CopyFrom(grad);
            Ops.AddRegularizationGradient(p, g, (float)l1, (float)l2);
            Ops.SgdStep(p, g, buffer, step == 1, settings);
        }

        Numerics.AssertClose(reference.Parameters.Select(x => (float)x).ToArray(), p.ToArray(), 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), "sgd");
    }

    [Fact]
    public void BadHyperParametersAreRejectedBeforeLaunch()
    {
        var device = devices.Fast;
        using var p = device.FromArray([1f, 2f], 2);
        using var g = device.FromArray([1f, 1f], 2);
        using var m = device.Zeros(2);
        using var v = device.Zeros(2);
        var good = new AdamSettings(1e-3, 0.9, 0.999, 1e-8, 0, false, false);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { Lr = -1e-3 }));
        Assert.Contains("lr must be a finite number >= 0", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { Beta1 = 1.0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { Beta2 = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { Eps = double.PositiveInfinity }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { WeightDecay = -0.1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AdamStep(p, g, m, v, null, 0, good));
        Assert.Throws<ArgumentNullException>(() => Ops.AdamStep(p, g, m, v, null, 1, good with { Amsgrad = true }));
        Assert.Throws<ArgumentException>(() => Ops.SgdStep(p, g, m, true, new SgdSettings(0.1, Nesterov: true)));
        Assert.Throws<ArgumentNullException>(() => Ops.SgdStep(p, g, null, true, new SgdSettings(0.1, Momentum: 0.9)));
        using var shorter = device.Zeros(1);
        var mismatch = Assert.Throws<ShapeMismatchException>(() => Ops.AdamStep(p, g, shorter, v, null, 1, good));
        Assert.Contains("exp_avg", mismatch.Message);
        Assert.Equal([1f, 2f], p.ToArray()); // nothing ran
    }
}
