using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Bench.Quick;

/// <summary>
/// `observe [--rounds N]`: what watching a run costs. The reference example (MLP 10-20-1, 100 rows,
/// full batch, 100 epochs) and the digits CNN (1,797 rows of 8x8, batch 64, 5 epochs) are trained
/// plainly, with the op profiler on, and with a TensorBoard event file written every epoch, the
/// three in turn in every round (the same machine state for each); the medians of the training times
/// and their ratios to the plain run are printed.
/// </summary>
internal static class ObservabilityCost
{
    private static readonly string[] Modes = ["plain", "profile", "tensorboard"];

    public static int Run(TextWriter output, int rounds)
    {
        using var device = Device.CreateCpu();
        output.WriteLine($"device: {device}; host threads: {device.HostThreads}; {rounds} rounds, modes in turn, medians of training seconds");
        string digits = Path.Combine(FindRepository(), "data", "digits.csv");
        var workloads = new (string Name, Func<Sequential> Model, Func<Loss> Loss, TrainingSet Data, TrainerOptions Options)[]
        {
            ("reference MLP 10-20-1, 100 epochs", () => Sequential.Mlp(10, [20], 1), () => new MSELoss(), Dataset.Synthetic(100, 10, 1, 0), new TrainerOptions(100, 0, false, 0)),
            ("digits CNN, 5 epochs of batch 64",
                () => Architecture.Parse("conv(16,3,padding=1),relu,maxpool(2),conv(32,3,padding=1),relu,maxpool(2),flatten,linear(64),relu,linear(10)", new TensorShape(1, 8, 8)),
                () => new CrossEntropyLoss(), DataLoader.Load(digits), new TrainerOptions(5, 64, true, 0)),
        };

        string events = Directory.CreateTempSubdirectory("gpu-observe-bench-").FullName;
        try
        {
            foreach (var (name, makeModel, makeLoss, data, options) in workloads)
            {
                var times = Modes.ToDictionary(m => m, _ => new List<double>());
                for (int round = -1; round < rounds; round++) // round -1 warms up
                {
                    foreach (string mode in Modes)
                    {
                        double seconds = Train(device, makeModel, makeLoss, data, options, mode, events);
                        if (round >= 0)
                            times[mode].Add(seconds);
                    }
                }

                double plain = Median(times["plain"]);
                output.WriteLine(name);
                foreach (string mode in Modes)
                {
                    double median = Median(times[mode]);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {mode,-12} {1e3 * median,9:F2} ms  (min {1e3 * times[mode].Min(),8:F2}, max {1e3 * times[mode].Max(),8:F2})  x{median / plain:F3}"));
                }
            }
        }
        finally
        {
            Directory.Delete(events, recursive: true);
        }

        return 0;
    }

    private static double Train(Device device, Func<Sequential> makeModel, Func<Loss> makeLoss, TrainingSet data, TrainerOptions options, string mode, string events)
    {
        using var model = makeModel().To(device, 0);
        using var loss = makeLoss();
        using var optimizer = new Adam(model.Parameters());
        var trainer = new Trainer(model, loss, optimizer, options);
        using var writer = mode == "tensorboard" ? new TensorBoardWriter(events) : null;
        if (writer is not null)
            trainer.Add(new TensorBoardLogging(writer));
        if (mode == "profile")
            device.StartProfiling();
        try
        {
            return trainer.Fit(data).TrainSeconds;
        }
        finally
        {
            device.StopProfiling();
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gpu.sln")))
                return dir.FullName;
        }

        throw new DirectoryNotFoundException("Gpu.sln not found above the benchmark's folder: run it from the repository.");
    }
}
