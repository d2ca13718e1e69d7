namespace Gpu.Training;

/// <summary>The base learning rate at every step (no scheduler in PyTorch): the default.</summary>
public sealed class ConstantSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    public static ScheduleEntry Entry { get; } = new("constant", "constant", "lr at every step", text =>
    {
        text.Expect(0);
        return new ConstantSchedule();
    });

    public override string Format() => "constant";

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch) => optimizer.LearningRate = run.BaseLearningRate;
}
