using System.Text.Json;

namespace Gpu.Training;

/// <summary>
/// For schedules whose curve depends on the run's length S (cosine, one-cycle): remembers the S they
/// were run with, saved in checkpoints, so a resumed run with another length (other --epochs,
/// --batch-size or --accumulate) is refused instead of following a different curve.
/// </summary>
internal sealed class RunLengthState
{
    private long? totalSteps;

    public void Check(string schedule, ScheduleRun run)
    {
        if (totalSteps is { } saved && saved != run.TotalSteps)
            throw new ArgumentException($"{schedule} was begun over a run of {saved} optimizer steps, but this run has {run.TotalSteps}: its curve depends on the run's length, so resume with the same --epochs, --batch-size and --accumulate");
        totalSteps = run.TotalSteps;
    }

    public string Save() => JsonSerializer.Serialize(new Saved(totalSteps));

    public void Load(string json)
    {
        try
        {
            totalSteps = (JsonSerializer.Deserialize<Saved>(json) ?? throw new JsonException("null")).TotalSteps;
        }
        catch (JsonException e)
        {
            throw new FormatException($"malformed schedule state: {e.Message}", e);
        }
    }

    private sealed record Saved(long? TotalSteps);
}
