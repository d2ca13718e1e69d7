namespace Gpu.Bench.Baselines;

/// <summary>Plain C# loops: the "no framework" baselines the kernels are compared with.</summary>
public static class HostReference
{
    /// <summary>A straightforward triple loop, C (m, n) = A (m, k) B (k, n), row-major, i-k-j order.</summary>
    public static void MatMul(float[] a, float[] b, float[] c, int m, int n, int k)
    {
        Array.Clear(c);
        for (int i = 0; i < m; i++)
        {
            for (int kk = 0; kk < k; kk++)
            {
                float aik = a[i * k + kk];
                for (int j = 0; j < n; j++)
                    c[i * n + j] += aik * b[kk * n + j];
            }
        }
    }

    public static void Relu(float[] x, float[] y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = x[i] <= 0f ? 0f : x[i];
    }

    public static float Mse(float[] x, float[] y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float d = x[i] - y[i];
            sum += d * d;
        }

        return (float)(sum / x.Length);
    }

    public static void Adam(float[] p, float[] g, float[] m, float[] v, float lr, float beta1, float beta2, float eps, int step)
    {
        float stepSize = lr / (1f - MathF.Pow(beta1, step));
        float bc2 = MathF.Sqrt(1f - MathF.Pow(beta2, step));
        for (int i = 0; i < p.Length; i++)
        {
            m[i] = beta1 * m[i] + (1f - beta1) * g[i];
            v[i] = beta2 * v[i] + (1f - beta2) * g[i] * g[i];
            p[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) / bc2 + eps);
        }
    }
}
