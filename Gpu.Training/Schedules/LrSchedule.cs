using System.Globalization;

namespace Gpu.Training;

/// <summary>
/// A learning-rate schedule (torch.optim.lr_scheduler): before every optimizer step the trainer asks
/// it for that step's learning rate (and, for a one-cycle schedule, its momentum), which the optimizer
/// reads at the step; after every epoch it may look at the watched loss (ReduceLROnPlateau). The
/// rate is a function of the step's index over the run (s, from 0), the run's total optimizer
/// steps (S), the epoch (e, from 0) and the base rate (--lr), plus, for a schedule that watches the
/// loss, a state it saves in checkpoints, so a resumed run continues exactly. Each schedule is one
/// class with its registry entry (<see cref="ScheduleEntry"/>), written in the command line's call
/// grammar, e.g. <c>cosine(min=1e-4,warmup=100)</c>.
/// </summary>
public abstract class LrSchedule
{
    /// <summary>The schedule's word, e.g. "cosine".</summary>
    public string Name => Kind.Name;

    /// <summary>This schedule's registry entry.</summary>
    public ScheduleEntry Kind => Registry<ScheduleEntry>.Of(GetType()) ?? throw new InvalidOperationException($"{GetType().Name} has no ScheduleEntry (implement IRegistered<ScheduleEntry>).");

    /// <summary>True when the schedule needs the loss of every epoch (<see cref="AfterEpoch"/>).</summary>
    public virtual bool WatchesLoss => false;

    /// <summary>Reads a schedule written in the call grammar, e.g. <c>step(10,gamma=0.5)</c>; <see cref="FormatException"/> names what is wrong.</summary>
    public static LrSchedule Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var item = CallText.ParseOne(text, "schedule");
        var entry = Registry<ScheduleEntry>.Find(item.Word)
            ?? throw new FormatException($"unknown schedule '{item.Word}' (known: {string.Join(", ", Registry<ScheduleEntry>.All.Select(e => e.Usage))})");
        try
        {
            return entry.Parse(item);
        }
        catch (ArgumentException e)
        {
            throw new FormatException(e.Message, e);
        }
    }

    /// <summary>The schedule in the call grammar, every argument written (what <see cref="Parse"/> reads back).</summary>
    public abstract string Format();

    /// <summary>Checks the schedule against a run (e.g. warmup shorter than the run); throws <see cref="ArgumentException"/> naming the argument.</summary>
    public virtual void Validate(ScheduleRun run)
    {
    }

    /// <summary>Sets <paramref name="optimizer"/>'s learning rate (and momentum) for optimizer step <paramref name="step"/> of the run, in epoch <paramref name="epoch"/>.</summary>
    public abstract void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch);

    /// <summary>After every epoch: the loss the run monitors (validation if there is validation data, else training).</summary>
    public virtual void AfterEpoch(double loss)
    {
    }

    /// <summary>What the schedule has learnt from the losses so far, as JSON (empty for a pure function of the step).</summary>
    public virtual string SaveState() => "{}";

    /// <summary>Restores <see cref="SaveState"/>'s JSON; throws <see cref="FormatException"/> when malformed.</summary>
    public virtual void LoadState(string json)
    {
    }

    /// <summary>A number as the call grammar writes it (shortest round trip).</summary>
    protected static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>What a schedule needs to know about the run it steers.</summary>
/// <param name="BaseLearningRate">The base rate (--lr, the optimizer's initial lr).</param>
/// <param name="TotalSteps">S: the run's optimizer steps, epochs times steps per epoch.</param>
/// <param name="StepsPerEpoch">Optimizer steps per epoch (batches / accumulation, rounded up).</param>
public sealed record ScheduleRun(double BaseLearningRate, long TotalSteps, int StepsPerEpoch);

/// <summary>A schedule's registry entry (<see cref="IRegistered{TEntry}"/>).</summary>
/// <param name="Name">Its word, e.g. "cosine".</param>
/// <param name="Usage">How it is written, with its defaults, e.g. <c>cosine(min=0,warmup=0)</c>.</param>
/// <param name="Formula">What it computes, for help texts and docs.</param>
/// <param name="Parse">The schedule a text describes; <see cref="FormatException"/> or <see cref="ArgumentException"/> for bad arguments.</param>
public sealed record ScheduleEntry(string Name, string Usage, string Formula, Func<CallText, LrSchedule> Parse) : RegistryEntry(Name, Formula);
