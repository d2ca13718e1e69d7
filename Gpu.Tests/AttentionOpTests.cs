using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// The fused attention op on every device profile against attention written out in double
/// precision (scores, softmax, weighted sum, and the textbook backward through them): causal and
/// not, one and four heads, T not a multiple of the tile (37) and shorter than one (5). With
/// dropout, the backward pass is checked against finite differences of the same masked forward.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class AttentionOpTests(DeviceFixture devices)
{
    public static TheoryData<string, int, int, int, bool> Cases()
    {
        var data = new TheoryData<string, int, int, int, bool>();
        foreach (var profile in (string[])["host", "fast", "gpulike", .. Profiles.Gpus])
        {
            foreach (var (t, width, heads) in new[] { (37, 16, 1), (37, 16, 4), (5, 8, 2), (70, 64, 2) })
            {
                data.Add(profile, t, width, heads, true);
                data.Add(profile, t, width, heads, false);
            }
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void AttentionAndItsGradientsMatchADoublePrecisionReference(string profile, int t, int width, int heads, bool causal)
    {
        var device = devices.Get(profile);
        const int n = 2;
        var qkv = Numerics.Random(n * t * 3 * width, 11 + t + heads, scale: 1.5f);
        var dy = Numerics.Random(n * t * width, 12 + t);
        var (expected, gradient) = Reference(qkv, dy, n, t, width, heads, causal);

        using var x = device.FromArray(qkv, n, t, 3 * width);
        using var y = device.Zeros(new TensorShape(n, t, width), null);
        using var lse = device.Zeros(new TensorShape(n * heads * t), null);
        using var delta = device.Zeros(new TensorShape(n * heads * t), null);
        using var g = device.FromArray(dy, n, t, width);
        using var dx = device.Zeros(new TensorShape(n, t, 3 * width), null);
        Ops.Attention(x, y, lse, heads, causal);
        Ops.AttentionBackward(x, y, g, lse, delta, dx, heads, causal);
        double tolerance = DeviceFixture.IsGpu(profile) ? 1e-4 : 1e-5;
        Numerics.AssertClose(expected, y.ToArray(), 1e-6, tolerance, $"attention output on {profile}");
        Numerics.AssertClose(gradient, dx.ToArray(), 1e-5, tolerance * 10, $"attention gradient on {profile}");
    }

    [SkippableTheory]
    [InlineData("host")]
    [InlineData("fast")]
    [InlineData("gpulike")]
    public void DropoutIsTheSameMaskInBothPassesAndOnEveryDevice(string profile)
    {
        var device = devices.Get(profile);
        const int n = 2, t = 9, width = 8, heads = 2;
        var qkv = Numerics.Random(n * t * 3 * width, 21);
        var dy = Numerics.Random(n * t * width, 22);
        var dropout = new AttentionDropout(0.3, Seed: 77, Step: 5, FirstRow: 3);
        float[] Forward(float[] input)
        {
            using var x = device.FromArray(input, n, t, 3 * width);
            using var y = device.Zeros(new TensorShape(n, t, width), null);
            using var lse = device.Zeros(new TensorShape(n * heads * t), null);
            Ops.Attention(x, y, lse, heads, causal: true, dropout);
            return y.ToArray();
        }

        // The same mask as the host's wherever it runs.
        var output = Forward(qkv);
        var hostOutput = ForwardOn(devices.Host, qkv, n, t, width, heads, dropout);
        Numerics.AssertClose(hostOutput, output, 1e-6, 1e-5, $"dropout output on {profile} against the host's");
        var undropped = ForwardOn(devices.Host, qkv, n, t, width, heads, dropout with { P = 0 });
        Assert.True(output.Zip(undropped).Count(pair => Math.Abs(pair.First - pair.Second) > 1e-4) > output.Length / 2, "dropout should change most outputs");

        using var x0 = device.FromArray(qkv, n, t, 3 * width);
        using var y0 = device.Zeros(new TensorShape(n, t, width), null);
        using var lse0 = device.Zeros(new TensorShape(n * heads * t), null);
        using var delta = device.Zeros(new TensorShape(n * heads * t), null);
        using var g = device.FromArray(dy, n, t, width);
        using var dx = device.Zeros(new TensorShape(n, t, 3 * width), null);
        Ops.Attention(x0, y0, lse0, heads, causal: true, dropout);
        Ops.AttentionBackward(x0, y0, g, lse0, delta, dx, heads, causal: true, dropout);
        var analytic = dx.ToArray();

        // Central differences of sum(dy . y) in double over a sample of inputs.
        const double h = 1e-2;
        for (int e = 0; e < qkv.Length; e += 7)
        {
            var plus = (float[])qkv.Clone();
            var minus = (float[])qkv.Clone();
            plus[e] += (float)h;
            minus[e] -= (float)h;
            double numeric = (Dot(dy, Forward(plus)) - Dot(dy, Forward(minus))) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic[e]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"element {e} on {profile}: finite difference {numeric}, backward {analytic[e]}");
        }
    }

    [Fact]
    public void BadShapesAreNamed()
    {
        var device = devices.Host;
        using var x = device.Zeros(new TensorShape(1, 4, 18), null);
        using var y = device.Zeros(new TensorShape(1, 4, 6), null);
        using var lse = device.Zeros(new TensorShape(4 * 4), null);
        Assert.Contains("4 heads do not divide the width 6", Assert.Throws<ShapeMismatchException>(() => Ops.Attention(x, y, lse, 4, true)).Message);
        using var wrong = device.Zeros(new TensorShape(1, 4, 5), null);
        Assert.Contains("must be (1, 4, 6)", Assert.Throws<ShapeMismatchException>(() => Ops.Attention(x, wrong, lse, 2, true)).Message);
    }

    private static float[] ForwardOn(Device device, float[] input, int n, int t, int width, int heads, AttentionDropout dropout)
    {
        using var x = device.FromArray(input, n, t, 3 * width);
        using var y = device.Zeros(new TensorShape(n, t, width), null);
        using var lse = device.Zeros(new TensorShape(n * heads * t), null);
        Ops.Attention(x, y, lse, heads, causal: true, dropout);
        return y.ToArray();
    }

    private static double Dot(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += (double)a[i] * b[i];
        return sum;
    }

    // Attention and its backward written out in double: P = softmax(q k^T s + mask), y = P v;
    // dP = dy v^T, dS = P (dP - rowsum(P dP)), dq = s dS k, dk = s dS^T q, dv = P^T dy.
    private static (float[] Output, float[] Gradient) Reference(float[] qkv, float[] dy, int n, int t, int width, int heads, bool causal)
    {
        int d = width / heads;
        double scale = 1 / Math.Sqrt(d);
        var y = new float[n * t * width];
        var dx = new double[qkv.Length];
        double Q(int b, int i, int part, int h, int c) => qkv[(b * t + i) * 3 * width + part * width + h * d + c];
        for (int b = 0; b < n; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                var p = new double[t, t];
                for (int i = 0; i < t; i++)
                {
                    int seen = causal ? i + 1 : t;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < seen; j++)
                    {
                        double s = 0;
                        for (int c = 0; c < d; c++)
                            s += Q(b, i, 0, h, c) * Q(b, j, 1, h, c);
                        p[i, j] = s * scale;
                        max = Math.Max(max, p[i, j]);
                    }

                    double sum = 0;
                    for (int j = 0; j < seen; j++)
                        sum += p[i, j] = Math.Exp(p[i, j] - max);
                    for (int j = 0; j < seen; j++)
                        p[i, j] /= sum;
                    for (int c = 0; c < d; c++)
                    {
                        double o = 0;
                        for (int j = 0; j < seen; j++)
                            o += p[i, j] * Q(b, j, 2, h, c);
                        y[(b * t + i) * width + h * d + c] = (float)o;
                    }
                }

                for (int i = 0; i < t; i++)
                {
                    int seen = causal ? i + 1 : t;
                    var dp = new double[seen];
                    double rowSum = 0;
                    for (int j = 0; j < seen; j++)
                    {
                        for (int c = 0; c < d; c++)
                            dp[j] += dy[(b * t + i) * width + h * d + c] * Q(b, j, 2, h, c);
                        rowSum += p[i, j] * dp[j];
                    }

                    for (int j = 0; j < seen; j++)
                    {
                        double ds = p[i, j] * (dp[j] - rowSum) * scale;
                        for (int c = 0; c < d; c++)
                        {
                            dx[(b * t + i) * 3 * width + h * d + c] += ds * Q(b, j, 1, h, c);
                            dx[(b * t + j) * 3 * width + width + h * d + c] += ds * Q(b, i, 0, h, c);
                            dx[(b * t + j) * 3 * width + 2 * width + h * d + c] += p[i, j] * dy[(b * t + i) * width + h * d + c];
                        }
                    }
                }
            }
        }

        return (y, [.. dx.Select(v => (float)v)]);
    }
}
