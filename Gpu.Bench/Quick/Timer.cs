using System.Diagnostics;

namespace Gpu.Bench.Quick;

/// <summary>
/// Median wall-clock time per call: after a warm-up (30 calls or 1.5 s), calls are timed in batches (each batch ends
/// with a device synchronisation) until both a minimum number of batches and a time budget are
/// reached. Medians, not means, because these machines are shared and noisy.
/// </summary>
internal static class Timer
{
    public static double MedianSeconds(Action call, Action synchronize, double budgetSeconds = 0.5, int minBatches = 5)
    {
        // Warm up: .NET optimises a method fully after about 30 calls (tier 1), and library code
        // such as TensorPrimitives' runs several times slower before; 30 calls or 1.5 s.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 30 && warm.Elapsed.TotalSeconds < 1.5; i++)
            call();
        synchronize();
        // Size a batch to about 1/20 of the budget.
        var probe = Stopwatch.StartNew();
        call();
        synchronize();
        double once = Math.Max(probe.Elapsed.TotalSeconds, 1e-7);
        int perBatch = (int)Math.Clamp(budgetSeconds / 20 / once, 1, 100_000);
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < minBatches || (total.Elapsed.TotalSeconds < budgetSeconds && samples.Count < 200))
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < perBatch; i++)
                call();
            synchronize();
            samples.Add(clock.Elapsed.TotalSeconds / perBatch);
        }

        samples.Sort();
        return samples[samples.Count / 2];
    }
}
