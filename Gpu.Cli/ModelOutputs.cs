using Gpu.Training;

namespace Gpu.Cli;

/// <summary>What a model's raw outputs mean under its loss: a class (argmax for ce, p >= 0.5 for bce), probabilities, or values.</summary>
internal static class ModelOutputs
{
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
                best = i;
        }

        return best;
    }

    /// <summary>Probabilities from raw outputs, as the ONNX export's "probabilities" output computes them; raw values for regression.</summary>
    public static double[] Transform(ReadOnlySpan<float> row, LossOutput output) => output switch
    {
        LossOutput.Sigmoid => Sigmoid(row),
        LossOutput.Softmax => Softmax(row),
        _ => [.. row.ToArray().Select(v => (double)v)],
    };

    private static double[] Sigmoid(ReadOnlySpan<float> row)
    {
        var p = new double[row.Length];
        for (int i = 0; i < row.Length; i++)
            p[i] = 1.0 / (1.0 + Math.Exp(-row[i]));
        return p;
    }

    private static double[] Softmax(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity;
        foreach (float v in row)
            max = Math.Max(max, v);
        var e = new double[row.Length];
        double sum = 0;
        for (int i = 0; i < row.Length; i++)
            sum += e[i] = Math.Exp(row[i] - max);
        for (int i = 0; i < e.Length; i++)
            e[i] /= sum;
        return e;
    }
}
