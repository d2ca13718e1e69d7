namespace Gpu.Training;

/// <summary>
/// torch.optim.lr_scheduler.OneCycleLR(max_lr = lr, total_steps = S, pct_start = pct) with its other
/// defaults (cosine annealing, div_factor 25, final_div_factor 1e4, three_phase off, cycle_momentum
/// on with base 0.85 and max 0.95), stepped per optimizer step. Phase one, steps [0, pct S - 1],
/// anneals the rate from lr / 25 up to lr and the momentum (Adam's beta1, SGD's and RMSprop's
/// momentum) from 0.95 down to 0.85; phase two, to step S - 1, anneals the rate down to lr / 25e4
/// and the momentum back to 0.95; each anneal is <c>end + (start - end) (1 + cos(pi p)) / 2</c>.
/// </summary>
public sealed class OneCycleSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    private const double DivFactor = 25;
    private const double FinalDivFactor = 1e4;
    private const double BaseMomentum = 0.85;
    private const double MaxMomentum = 0.95;
    private readonly RunLengthState length = new();

    public OneCycleSchedule(double pct = 0.3)
    {
        if (!(pct > 0 && pct < 1))
            throw new ArgumentOutOfRangeException(nameof(pct), pct, $"onecycle: pct must lie strictly between 0 and 1, got {Number(pct)}");
        Pct = pct;
    }

    public static ScheduleEntry Entry { get; } = new("onecycle", "onecycle(pct=0.3)",
        "OneCycleLR(max_lr=lr, total_steps=S, pct_start=pct): up from lr/25 over pct S steps, down to lr/25e4; momentum cycles 0.95-0.85-0.95", text =>
        {
            text.Expect(0, "pct");
            return new OneCycleSchedule(text.NamedNumber("pct", 0.3));
        });

    /// <summary>The share of the run spent raising the rate (pct_start).</summary>
    public double Pct { get; }

    public override string Format() => $"onecycle(pct={Number(Pct)})";

    public override void Validate(ScheduleRun run)
    {
        // PyTorch divides by the first phase's length, pct S - 1: it must be positive.
        if (!(Pct * run.TotalSteps > 1))
            throw new ArgumentException($"pct {Number(Pct)} of the run's {run.TotalSteps} optimizer steps leaves no step to warm up in (pct x steps must exceed 1)");
        length.Check(Format(), run);
    }

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch)
    {
        if (optimizer.Momentum is null)
            throw new InvalidOperationException($"onecycle cycles the momentum, but {optimizer.Name} has none (OneCycleLR's cycle_momentum).");
        double maxLr = run.BaseLearningRate, initialLr = maxLr / DivFactor, minLr = initialLr / FinalDivFactor;
        double firstEnd = Pct * run.TotalSteps - 1, lastEnd = run.TotalSteps - 1;
        double lr, momentum;
        if (step <= firstEnd)
        {
            double p = step / firstEnd;
            lr = Anneal(initialLr, maxLr, p);
            momentum = Anneal(MaxMomentum, BaseMomentum, p);
        }
        else
        {
            double p = (step - firstEnd) / (lastEnd - firstEnd);
            lr = Anneal(maxLr, minLr, p);
            momentum = Anneal(BaseMomentum, MaxMomentum, p);
        }

        optimizer.LearningRate = lr;
        optimizer.Momentum = momentum;
    }

    public override string SaveState() => length.Save();

    public override void LoadState(string json) => length.Load(json);

    // torch's _annealing_cos: from start to end as p goes from 0 to 1.
    private static double Anneal(double start, double end, double p) => end + (start - end) / 2.0 * (Math.Cos(Math.PI * p) + 1);
}
