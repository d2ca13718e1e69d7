namespace Gpu.Training;

/// <summary>torch.optim.lr_scheduler.ExponentialLR stepped once per epoch: <c>lr * gamma^e</c>.</summary>
public sealed class ExponentialSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    public ExponentialSchedule(double gamma)
    {
        if (!(double.IsFinite(gamma) && gamma > 0))
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, $"exponential: gamma must be a finite number > 0, got {Number(gamma)}");
        Gamma = gamma;
    }

    public static ScheduleEntry Entry { get; } = new("exponential", "exponential(gamma)", "lr * gamma^e (ExponentialLR per epoch)", text =>
    {
        text.Expect(1);
        return new ExponentialSchedule(text.Number(0, "gamma"));
    });

    /// <summary>The factor per epoch.</summary>
    public double Gamma { get; }

    public override string Format() => $"exponential({Number(Gamma)})";

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch) =>
        optimizer.LearningRate = run.BaseLearningRate * Math.Pow(Gamma, epoch);
}
