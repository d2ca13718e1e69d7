using System.Diagnostics;
using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Bench.Distributed;

/// <summary>
/// `distributed`, run under a launcher (mpirun -np N dotnet Gpu.Bench.dll distributed): the time of
/// an in-place all-reduce against message size, and a compute-heavy training run (1024-1024-1024-1,
/// global batch 1024) on N ranks with the share of time spent in communication. Run as one process
/// it gives the baseline for the same model. Rank 0 prints; all-reduce times are medians of 15.
/// </summary>
internal static class DistributedBenchmark
{
    public static int Run(TextWriter output)
    {
        var launch = ProcessGroup.DetectLaunch();
        using var group = launch is { WorldSize: > 1 } job ? ProcessGroup.Join(job.Flavour) : null;
        var print = group is null || group.Rank == 0 ? output : TextWriter.Null;
        int ranks = group?.WorldSize ?? 1;
        int threads = Math.Max(1, Environment.ProcessorCount / (group?.LocalSize ?? 1));
        using var device = Device.CreateCpu(threads: threads);
        print.WriteLine($"{ranks} rank(s){(group is null ? "" : $", {group.Implementation}")}, {threads} thread(s) each, {device.Info.Name}");

        if (group is not null)
        {
            print.WriteLine("  all-reduce (in place, sum)   floats       size    median");
            foreach (int floats in new[] { 1 << 10, 5_569, 1 << 16, 1 << 20, 1 << 22, 1 << 24 })
            {
                using var tensor = device.Zeros(floats);
                var times = new List<double>();
                for (int i = 0; i < 15; i++)
                {
                    group.Barrier();
                    var clock = Stopwatch.StartNew();
                    group.AllReduceSum(tensor);
                    times.Add(clock.Elapsed.TotalSeconds);
                }

                times.Sort();
                print.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"",-27} {floats,9} {floats * 4.0 / (1 << 20),7:F2} MB {times[times.Count / 2] * 1e3,8:F3} ms"));
            }
        }

        // 1024-1024-1024-1, global batch 1024, 4 steps an epoch, 3 epochs (the first warms up).
        var data = Dataset.Synthetic(4096, 1024, 1, 0);
        using var model = Sequential.Mlp(1024, [1024, 1024], 1).To(device, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        var trainer = new Trainer(model, loss, optimizer, new TrainerOptions(Epochs: 3, BatchSize: 1024, Shuffle: false), group);
        var history = trainer.Fit(data);
        var steady = history.Epochs.Skip(1).ToList();
        double seconds = steady.Sum(e => e.Seconds);
        long steps = steady.Sum(e => (long)e.Steps);
        print.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  train 1024-1024-1024-1 b1024: {steps / seconds:F2} steps/s, {model.Flops(training: true) * 1024.0 * steps / seconds / 1e9:F1} GFLOP/s, communication {history.CommunicationSeconds:F3} s of {history.TrainSeconds:F3} s ({100 * history.CommunicationSeconds / history.TrainSeconds:F0}%)"));
        return 0;
    }
}
