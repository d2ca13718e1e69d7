namespace Gpu.Training;

/// <summary>
/// Linear warmup, then cosine decay, stepped per optimizer step (nanoGPT's and llm.c's schedule):
/// with W warmup steps, <c>lr (s + 1) / W</c> for s &lt; W, then
/// <c>min + (lr - min) (1 + cos(pi (s - W) / (S - W))) / 2</c>. Without warmup this is
/// torch.optim.lr_scheduler.CosineAnnealingLR(T_max = S, eta_min = min) stepped per step.
/// </summary>
public sealed class CosineSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    private readonly RunLengthState length = new();

    public CosineSchedule(double min = 0, long warmup = 0)
    {
        if (!(double.IsFinite(min) && min >= 0))
            throw new ArgumentOutOfRangeException(nameof(min), min, $"cosine: min must be a finite number >= 0, got {Number(min)}");
        if (warmup < 0)
            throw new ArgumentOutOfRangeException(nameof(warmup), warmup, $"cosine: warmup must be a whole number of steps >= 0, got {warmup}");
        Min = min;
        Warmup = warmup;
    }

    public static ScheduleEntry Entry { get; } = new("cosine", "cosine(min=0,warmup=0)",
        "lr (s + 1) / W for the W warmup steps, then min + (lr - min) (1 + cos(pi (s - W) / (S - W))) / 2 (CosineAnnealingLR per step when W = 0)", text =>
        {
            text.Expect(0, "min", "warmup");
            return new CosineSchedule(text.NamedNumber("min", 0), text.Named("warmup", 0, min: 0));
        });

    /// <summary>The rate at the end of the decay (eta_min).</summary>
    public double Min { get; }

    /// <summary>Steps of linear warmup.</summary>
    public long Warmup { get; }

    public override string Format() => $"cosine(min={Number(Min)},warmup={Warmup})";

    public override void Validate(ScheduleRun run)
    {
        if (Warmup >= run.TotalSteps)
            throw new ArgumentException($"warmup {Warmup} must be less than the run's {run.TotalSteps} optimizer steps (epochs x steps per epoch)");
        length.Check(Format(), run);
    }

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch)
    {
        double lr = run.BaseLearningRate;
        optimizer.LearningRate = step < Warmup
            ? lr * (step + 1) / Warmup
            : Min + (lr - Min) * (1 + Math.Cos(Math.PI * (step - Warmup) / (run.TotalSteps - Warmup))) / 2;
    }

    public override string SaveState() => length.Save();

    public override void LoadState(string json) => length.Load(json);
}
