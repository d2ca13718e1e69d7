using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// What the trainer does to a flat gradient before a step, on every device profile, against plain
/// double-precision references: the L1/L2 penalty's gradient, clip_grad_norm_ (clipping and not, the
/// norm kept for the report), clip_grad_value_ (NaN kept, as torch.clamp).
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class GradientOpsTests(DeviceFixture devices)
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var profile in (string[])["host", "fast", "gpulike", .. Profiles.Gpus])
            foreach (int n in new[] { 1, 33, 5000 })
                data.Add(profile, n);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void PenaltyGradientIsAddedToTheGradient(string profile, int n)
    {
        var device = devices.Get(profile);
        var p = Numerics.Random(n, 1);
        p[0] = 0f; // sign(0) = 0
        var g = Numerics.Random(n, 2);
        using var parameters = device.FromArray(p, n);
        using var gradients = device.FromArray(g, n);
        Ops.AddRegularizationGradient(parameters, gradients, 0.01f, 0.05f);
        var expected = g.Select((v, i) => (float)(v + 0.01 * Math.Sign(p[i]) + 2 * 0.05 * p[i])).ToArray();
        Numerics.AssertClose(expected, gradients.ToArray(), 1e-7, 1e-6, $"penalty gradient on {profile}");
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ClippingByNormScalesToTheLimitAndKeepsTheNorm(string profile, int n)
    {
        var device = devices.Get(profile);
        var g = Numerics.Random(n, 3, scale: 2f);
        double norm = Math.Sqrt(g.Sum(v => (double)v * v));
        using var gradients = device.FromArray(g, n);
        using var sumOfSquares = device.Zeros();
        foreach (double limit in new[] { norm / 3, norm * 2 })
        {
            gradients.CopyFrom(g);
            Ops.ClipGradientNorm(gradients, (float)limit, sumOfSquares);
            Numerics.AssertClose(norm * norm, sumOfSquares.Item(), 1e-6, 1e-5, $"sum of squares on {profile}");
            double coefficient = Math.Min(limit / (norm + 1e-6), 1);
            Numerics.AssertClose(g.Select(v => (float)(v * coefficient)).ToArray(), gradients.ToArray(), 1e-7, 1e-5, $"clipped to {limit} on {profile}");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ClippingByValueClampsAndKeepsNaN(string profile, int n)
    {
        var device = devices.Get(profile);
        var g = Numerics.Random(n, 4, scale: 3f);
        g[n - 1] = float.NaN;
        using var gradients = device.FromArray(g, n);
        Ops.ClipGradientValue(gradients, 1.5f);
        var actual = gradients.ToArray();
        for (int i = 0; i < n - 1; i++)
            Assert.Equal(Math.Clamp(g[i], -1.5f, 1.5f), actual[i]);
        Assert.True(float.IsNaN(actual[n - 1]));
    }

    [Fact]
    public void BadLimitsAreRejectedBeforeLaunch()
    {
        using var g = devices.Host.FromArray([1f, 2f], 2);
        using var p = devices.Host.FromArray([3f, 4f], 2);
        using var slot = devices.Host.Zeros();
        Assert.Contains("must be a finite number > 0", Assert.Throws<ArgumentOutOfRangeException>(() => Ops.ClipGradientNorm(g, 0f, slot)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.ClipGradientValue(g, float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.AddRegularizationGradient(p, g, -1f, 0f));
        Assert.Contains("overlaps", Assert.Throws<ArgumentException>(() => Ops.AddRegularizationGradient(g, g, 0.1f, 0f)).Message);
        Assert.Equal([1f, 2f], g.ToArray());
    }
}
