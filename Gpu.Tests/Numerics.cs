using System.Globalization;

namespace Gpu.Tests;

/// <summary>Tolerance checks whose failure message names the worst element and both values.</summary>
public static class Numerics
{
    /// <summary>
    /// Asserts <c>|actual - expected| &lt;= atol + rtol * |expected|</c> for every element; on failure the
    /// message gives the element with the largest excess, both values, and the tolerances.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what = "")
    {
        Assert.True(expected.Length == actual.Length, $"{what}: expected {expected.Length} elements, got {actual.Length}");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a))
                continue;
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (double.IsNaN(excess) || excess > worstExcess)
            {
                worstExcess = double.IsNaN(excess) ? double.PositiveInfinity : excess;
                worst = i;
            }
        }

        if (worst >= 0)
        {
            Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                $"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (|diff| {Math.Abs(actual[worst] - expected[worst]):E3} > atol {atol:E1} + rtol {rtol:E1} * |expected|)"));
        }
    }

    public static void AssertClose(double expected, double actual, double atol, double rtol, string what = "") =>
        AssertClose([(float)expected], [(float)actual], atol, rtol, what);

    /// <summary>
    /// Checks an analytic gradient against central differences: for every element i of
    /// <paramref name="point"/>, <c>(f(x + h e_i) - f(x - h e_i)) / 2h</c> must be within
    /// <c>atol + rtol |numeric|</c> of <c>analytic[i]</c>. <paramref name="f"/> is evaluated in double
    /// from float inputs; <paramref name="name"/> names element i in the failure message.
    /// </summary>
    public static void AssertMatchesCentralDifferences(
        float[] point, Func<float[], double> f, ReadOnlySpan<float> analytic, float h, double atol, double rtol, Func<int, string> name)
    {
        Assert.Equal(point.Length, analytic.Length);
        var probe = (float[])point.Clone();
        for (int i = 0; i < point.Length; i++)
        {
            probe[i] = point[i] + h;
            double up = f(probe);
            probe[i] = point[i] - h;
            double down = f(probe);
            probe[i] = point[i];
            AssertClose((up - down) / (2 * h), analytic[i], atol, rtol, name(i));
        }
    }

    /// <summary>
    /// How much wider tolerances are on a device: 1 on the CPU, 10 on a GPU, where ILGPU compiles
    /// exp and log to the hardware's approximate instructions (ex2.approx, lg2.approx) and ptxas
    /// fuses multiply-adds, so results differ from the CPU's in the last bits (still deterministic
    /// per device).
    /// </summary>
    public static double Scale(Gpu.Runtime.Device device) => device.Kind == Gpu.Runtime.DeviceKind.Cpu ? 1 : 10;

    /// <summary>Uniform values in [-1, 1) from a seeded generator.</summary>
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var data = new float[count];
        for (int i = 0; i < count; i++)
            data[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return data;
    }
}
