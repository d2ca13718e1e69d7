using System.Globalization;
using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The loss, optimizer and trainer options of a `train` run: from the flags for a new run; for a
/// resumed one, from the checkpoint, where every flag the user gave must agree with what it holds
/// (a flag left out takes the checkpoint's value, so `--resume` alone continues as saved).
/// </summary>
internal static class RunSetup
{
    /// <summary>The key of the loss's hyperparameters (JSON, by flag) in a model file's metadata.</summary>
    public const string LossOptionsKey = "loss_options";

    /// <summary>The loss the flags (or the checkpoint) describe, and its hyperparameters by flag (saved with the model).</summary>
    public static (Loss Loss, Dictionary<string, double> Options) Loss(TrainSettings s, ResumedTraining? resumed)
    {
        var entry = Registry<LossEntry>.Get(s.Loss, "loss");
        var saved = resumed is null ? null : SavedLossOptions(s, resumed);
        var values = new Dictionary<string, double>();
        foreach (var parameter in entry.Hyperparameters)
        {
            double? given = s.Hyperparameters.IsGiven(parameter.Flag) ? s.Hyperparameters.Given[parameter.Flag] : null;
            if (saved is not null && saved.TryGetValue(parameter.Flag, out double old))
            {
                Agree(s, parameter.Flag, old, given);
                values[parameter.Flag] = old;
            }
            else
            {
                values[parameter.Flag] = given ?? parameter.Default;
            }
        }

        return (entry.Create(new HyperparameterValues(values), Reduction.Mean), values);
    }

    /// <summary>A new run's optimizer from --optimizer, --lr and its flags.</summary>
    public static Optimizer Optimizer(TrainSettings s, ParameterCollection parameters)
    {
        var entry = Registry<OptimizerEntry>.Get(s.Optimizer, "optimizer");
        return entry.Create(parameters, entry.Options(s.Lr, s.Hyperparameters));
    }

    /// <summary>A resumed optimizer must be the one the flags name, with the lr and flag values they give.</summary>
    public static void CheckOptimizer(TrainSettings s, Optimizer optimizer)
    {
        if (s.Given.Contains("--optimizer") && optimizer.Name != s.Optimizer)
            throw Contradiction(s, "--optimizer", s.Optimizer, optimizer.Name);
        Agree(s, "--lr", Field(optimizer.Options, "Lr"), s.Given.Contains("--lr") ? s.Lr : null);
        foreach (var (parameter, field) in optimizer.Kind.Hyperparameters)
            Agree(s, parameter.Flag, Field(optimizer.Options, field), s.Hyperparameters.IsGiven(parameter.Flag) ? s.Hyperparameters.Given[parameter.Flag] : null);
    }

    /// <summary>The trainer's options: the flags for a new run; the checkpoint's, checked against any flag given, for a resumed one.</summary>
    public static TrainerOptions TrainerOptions(TrainSettings s, TrainingState? saved, long? deviceDataLimit, int? patience)
    {
        bool shuffle = s.Shuffle ?? s.BatchSize > 0;
        if (saved is null)
        {
            return new TrainerOptions(s.Epochs, s.BatchSize, shuffle, s.Seed, patience, DeviceDataLimit: deviceDataLimit,
                Accumulate: s.Accumulate, ClipGradNorm: s.ClipGradNorm, ClipGradValue: s.ClipGradValue, L1: s.L1, L2: s.L2, Schedule: s.Schedule());
        }

        Agree(s, "--accumulate", saved.Accumulate, Given(s, "--accumulate", s.Accumulate));
        Agree(s, "--clip-grad-norm", saved.ClipGradNorm, s.ClipGradNorm);
        Agree(s, "--clip-grad-value", saved.ClipGradValue, s.ClipGradValue);
        Agree(s, "--l1", saved.L1, Given(s, "--l1", s.L1));
        Agree(s, "--l2", saved.L2, Given(s, "--l2", s.L2));
        string? given = s.Schedule()?.Format();
        if (given is not null && given != (saved.Schedule ?? new ConstantSchedule().Format()))
            throw Contradiction(s, "--lr-schedule", given, saved.Schedule ?? "none");
        return new TrainerOptions(s.Epochs, s.BatchSize, shuffle, s.Seed, patience, DeviceDataLimit: deviceDataLimit,
            Accumulate: saved.Accumulate, ClipGradNorm: saved.ClipGradNorm, ClipGradValue: saved.ClipGradValue, L1: saved.L1, L2: saved.L2,
            Schedule: Schedule(s, saved));
    }

    // The checkpoint's schedule with its state (a plateau's best loss and lowered rate).
    private static LrSchedule? Schedule(TrainSettings s, TrainingState saved)
    {
        if (saved.Schedule is null)
            return null;
        try
        {
            var schedule = LrSchedule.Parse(saved.Schedule);
            if (saved.ScheduleState is not null)
                schedule.LoadState(saved.ScheduleState);
            return schedule;
        }
        catch (FormatException e)
        {
            throw new UsageException($"{s.Resume}: its schedule '{saved.Schedule}' cannot be restored: {e.Message}");
        }
    }

    private static Dictionary<string, double> SavedLossOptions(TrainSettings s, ResumedTraining resumed)
    {
        if (resumed.Info.Extra?.TryGetValue(LossOptionsKey, out var json) != true)
            return [];
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, double>>(json!) ?? [];
        }
        catch (JsonException e)
        {
            throw new UsageException($"{s.Resume}: its {LossOptionsKey} are malformed: {e.Message}");
        }
    }

    private static double? Given(TrainSettings s, string flag, double value) => s.Given.Contains(flag) ? value : null;

    private static double Field(object options, string field) =>
        Convert.ToDouble(options.GetType().GetProperty(field)?.GetValue(options) ?? throw new InvalidOperationException($"{options.GetType().Name} has no field {field}."), CultureInfo.InvariantCulture);

    private static void Agree(TrainSettings s, string flag, double? saved, double? given)
    {
        if (given is { } g && !Nullable.Equals(saved, g))
            throw Contradiction(s, flag, Text(g), saved is { } v ? Text(v) : "none");
    }

    private static UsageException Contradiction(TrainSettings s, string flag, string given, string saved) =>
        new($"{flag} {given} contradicts {s.Resume}, which was trained with {flag} {saved}; drop {flag} to resume with the checkpoint's value.");

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
