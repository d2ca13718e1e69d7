namespace Gpu.Training;

/// <summary>torch.optim.lr_scheduler.StepLR stepped once per epoch: <c>lr * gamma^floor(e / every)</c>.</summary>
public sealed class StepSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    public StepSchedule(int every, double gamma = 0.1)
    {
        if (every < 1)
            throw new ArgumentOutOfRangeException(nameof(every), every, $"step: every must be a whole number of epochs >= 1, got {every}");
        if (!(double.IsFinite(gamma) && gamma > 0))
            throw new ArgumentOutOfRangeException(nameof(gamma), gamma, $"step: gamma must be a finite number > 0, got {Number(gamma)}");
        Every = every;
        Gamma = gamma;
    }

    public static ScheduleEntry Entry { get; } = new("step", "step(every,gamma=0.1)", "lr * gamma^floor(e / every) (StepLR per epoch)", text =>
    {
        text.Expect(1, "gamma");
        return new StepSchedule(text.Int(0, "every"), text.NamedNumber("gamma", 0.1));
    });

    /// <summary>Epochs between decays.</summary>
    public int Every { get; }

    /// <summary>The factor of each decay.</summary>
    public double Gamma { get; }

    public override string Format() => $"step({Every},gamma={Number(Gamma)})";

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch) =>
        optimizer.LearningRate = run.BaseLearningRate * Math.Pow(Gamma, epoch / Every);
}
