namespace Gpu.Tests;

/// <summary>
/// Plain C# references in double precision, written from PyTorch's documented formulas
/// (docs/kernels.md gives each formula), independent of the kernels they check.
/// </summary>
public static class Reference
{
    public static double Mse(float[] x, float[] y, bool mean)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += (x[i] - (double)y[i]) * (x[i] - (double)y[i]);
        return mean ? sum / x.Length : sum;
    }

    public static double BceWithLogits(float x, float y)
    {
        // The textbook form -[y log s + (1 - y) log(1 - s)], in double with a stable log-sigmoid.
        double logSigmoid = -Math.Log(1 + Math.Exp(-Math.Abs(x))) + Math.Min(x, 0);
        double logOneMinusSigmoid = logSigmoid - x;
        return -(y * logSigmoid + (1 - y) * logOneMinusSigmoid);
    }

    public static double CrossEntropyRow(float[] logits, int row, int classes, int label)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < classes; j++)
            max = Math.Max(max, logits[row * classes + j]);
        double sum = 0;
        for (int j = 0; j < classes; j++)
            sum += Math.Exp(logits[row * classes + j] - max);
        return Math.Log(sum) + max - logits[row * classes + label];
    }

    /// <summary>torch.optim.Adam/AdamW state for a flat parameter vector, in double.</summary>
    public sealed class Adam(double[] p, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, bool amsgrad, double l1 = 0, double l2 = 0)
    {
        private readonly double[] m = new double[p.Length];
        private readonly double[] v = new double[p.Length];
        private readonly double[] vmax = new double[p.Length];
        private int step;

        public double[] Parameters => p;

        public void Step(float[] gradients)
        {
            step++;
            for (int i = 0; i < p.Length; i++)
            {
                double g = gradients[i] + l1 * Math.Sign(p[i]) + 2 * l2 * p[i];
                if (decoupled)
                    p[i] *= 1 - lr * weightDecay;
                else
                    g += weightDecay * p[i];
                m[i] = beta1 * m[i] + (1 - beta1) * g;
                v[i] = beta2 * v[i] + (1 - beta2) * g * g;
                double second = v[i];
                if (amsgrad)
                {
                    vmax[i] = Math.Max(vmax[i], v[i]);
                    second = vmax[i];
                }

                double denom = Math.Sqrt(second) / Math.Sqrt(1 - Math.Pow(beta2, step)) + eps;
                p[i] -= lr / (1 - Math.Pow(beta1, step)) * m[i] / denom;
            }
        }
    }

    /// <summary>torch.optim.SGD state for a flat parameter vector, in double.</summary>
    public sealed class Sgd(double[] p, double lr, double momentum, double dampening, double weightDecay, bool nesterov, double l1 = 0, double l2 = 0)
    {
        private readonly double[] buffer = new double[p.Length];
        private bool started;

        public double[] Parameters => p;

        public void Step(float[] gradients)
        {
            for (int i = 0; i < p.Length; i++)
            {
                double g = gradients[i] + l1 * Math.Sign(p[i]) + 2 * l2 * p[i] + weightDecay * p[i];
                if (momentum != 0)
                {
                    buffer[i] = started ? momentum * buffer[i] + (1 - dampening) * g : g;
                    g = nesterov ? g + momentum * buffer[i] : buffer[i];
                }

                p[i] -= lr * g;
            }

            started = true;
        }
    }
}
