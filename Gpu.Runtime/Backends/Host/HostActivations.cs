using System.Numerics;
using System.Numerics.Tensors;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Vectorised forms of the activations whose scalar form is dominated by tanh (GeluTanhActivation's
/// formulas, docs/kernels.md): the exponential through TensorPrimitives, in chunks that stay in L1,
/// and tanh's terms from it in the form that keeps their digits (closer to a float64 reference than
/// the scalar 1 + tanh(u) in GELU's left tail).
/// </summary>
internal static class HostActivations
{
    private const float Beta = 0.7978845608028654f; // sqrt(2 / pi)
    private const float Kappa = 0.044715f;
    private const int Chunk = 512;

    /// <summary>y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y)
    {
        Span<float> e = stackalloc float[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            ReadOnlySpan<float> xs = x.Slice(start, n);
            var es = e[..n];
            var ys = y.Slice(start, n);
            Inner(xs, ys); // u, kept in y until y is written
            Exponentials(ys, es);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var half = new Vector<float>(0.5f);
                for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var xv = new Vector<float>(xs[i..]);
                    (half * xv * OnePlusTanh(new Vector<float>(ys[i..]), new Vector<float>(es[i..]))).CopyTo(ys[i..]);
                }
            }

            for (; i < n; i++)
                ys[i] = 0.5f * xs[i] * OnePlusTanh(ys[i], es[i]);
        }
    }

    /// <summary>dx = dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2)), t = tanh(u).</summary>
    public static void GeluTanhBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        Span<float> e = stackalloc float[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            int n = Math.Min(Chunk, x.Length - start);
            ReadOnlySpan<float> xs = x.Slice(start, n), gs = dy.Slice(start, n);
            var es = e[..n];
            var ds = dx.Slice(start, n);
            Inner(xs, ds); // u, kept in dx until dx is written
            Exponentials(ds, es);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var half = new Vector<float>(0.5f);
                var four = new Vector<float>(4f);
                var beta = new Vector<float>(Beta);
                var threeKappa = new Vector<float>(3f * Kappa);
                for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                {
                    var xv = new Vector<float>(xs[i..]);
                    var ev = new Vector<float>(es[i..]);
                    var onePlus = Vector<float>.One + ev;
                    var sech2 = four * ev / (onePlus * onePlus);
                    var slope = half * OnePlusTanh(new Vector<float>(ds[i..]), ev) + half * xv * sech2 * beta * (Vector<float>.One + threeKappa * xv * xv);
                    (new Vector<float>(gs[i..]) * slope).CopyTo(ds[i..]);
                }
            }

            for (; i < n; i++)
            {
                float xi = xs[i], ei = es[i], onePlus = 1f + ei;
                float sech2 = 4f * ei / (onePlus * onePlus); // 1 - tanh^2 without the cancellation
                float slope = 0.5f * OnePlusTanh(ds[i], ei) + 0.5f * xi * sech2 * Beta * (1f + 3f * Kappa * xi * xi);
                ds[i] = gs[i] * slope;
            }
        }
    }

    // e = exp(-2 |u|), vectorised: tanh and 1 - tanh^2 follow from it without cancellation, where
    // 1 + tanh(u) for very negative u (GELU's left tail) and 1 - tanh^2 for large |u| lose digits.
    private static void Exponentials(ReadOnlySpan<float> u, Span<float> e)
    {
        TensorPrimitives.Abs(u, e);
        TensorPrimitives.Multiply(e, -2f, e);
        TensorPrimitives.Exp(e, e);
    }

    // 1 + tanh(u) from e = exp(-2 |u|): 2 / (1 + e) for u >= 0, 2 e / (1 + e) below.
    private static float OnePlusTanh(float u, float e) => (u >= 0f ? 2f : 2f * e) / (1f + e);

    private static Vector<float> OnePlusTanh(Vector<float> u, Vector<float> e)
    {
        var two = new Vector<float>(2f);
        return Vector.ConditionalSelect(Vector.GreaterThanOrEqual(u, Vector<float>.Zero), two, two * e) / (Vector<float>.One + e);
    }

    // u = sqrt(2/pi) (x + 0.044715 x^3), into t.
    private static void Inner(ReadOnlySpan<float> x, Span<float> t)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var beta = new Vector<float>(Beta);
            var kappa = new Vector<float>(Kappa);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var xv = new Vector<float>(x[i..]);
                (beta * (xv + kappa * xv * xv * xv)).CopyTo(t[i..]);
            }
        }

        for (; i < x.Length; i++)
            t[i] = Beta * (x[i] + Kappa * x[i] * x[i] * x[i]);
    }
}
