using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gpu.Training;

/// <summary>
/// torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min', factor, patience, threshold=1e-4 relative,
/// cooldown=0, min_lr=0, eps=1e-8), stepped once per epoch on the validation loss (the training loss
/// without validation data): an epoch improves when its loss is below best (1 - 1e-4); after more
/// than <c>patience</c> epochs without improvement the rate is multiplied by <c>factor</c> (when that
/// changes it by more than 1e-8) and the count restarts. Its best loss, count and rate are saved in
/// checkpoints.
/// </summary>
public sealed class PlateauSchedule : LrSchedule, IRegistered<ScheduleEntry>
{
    private const double Threshold = 1e-4;
    private const double Eps = 1e-8;
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private double best = double.PositiveInfinity;
    private int badEpochs;
    private double? rate;

    public PlateauSchedule(int patience = 10, double factor = 0.1)
    {
        if (patience < 0)
            throw new ArgumentOutOfRangeException(nameof(patience), patience, $"plateau: patience must be a whole number of epochs >= 0, got {patience}");
        if (!(factor > 0 && factor < 1))
            throw new ArgumentOutOfRangeException(nameof(factor), factor, $"plateau: factor must lie strictly between 0 and 1, got {Number(factor)}");
        Patience = patience;
        Factor = factor;
    }

    public static ScheduleEntry Entry { get; } = new("plateau", "plateau(patience=10,factor=0.1)",
        "lr * factor after more than patience epochs without a relative improvement of 1e-4 of the watched loss (ReduceLROnPlateau)", text =>
        {
            text.Expect(0, "patience", "factor");
            return new PlateauSchedule(text.Named("patience", 10, min: 0), text.NamedNumber("factor", 0.1));
        });

    /// <summary>Epochs without improvement tolerated before the rate drops.</summary>
    public int Patience { get; }

    /// <summary>The factor of each drop.</summary>
    public double Factor { get; }

    public override bool WatchesLoss => true;

    public override string Format() => $"plateau(patience={Patience},factor={Number(Factor)})";

    public override void BeforeStep(Optimizer optimizer, ScheduleRun run, long step, int epoch) =>
        optimizer.LearningRate = rate ??= run.BaseLearningRate;

    public override void AfterEpoch(double loss)
    {
        if (loss < best * (1 - Threshold))
        {
            best = loss;
            badEpochs = 0;
        }
        else
        {
            badEpochs++;
        }

        if (badEpochs > Patience && rate is { } old)
        {
            double lowered = Math.Max(old * Factor, 0);
            if (old - lowered > Eps)
                rate = lowered;
            badEpochs = 0;
        }
    }

    public override string SaveState() => JsonSerializer.Serialize(new Saved(best, badEpochs, rate), Json);

    public override void LoadState(string json)
    {
        try
        {
            var saved = JsonSerializer.Deserialize<Saved>(json, Json) ?? throw new JsonException("null");
            if (saved.BadEpochs < 0 || saved.Rate is < 0 || double.IsNaN(saved.Best))
                throw new JsonException("negative counts or rates");
            (best, badEpochs, rate) = (saved.Best, saved.BadEpochs, saved.Rate);
        }
        catch (JsonException e)
        {
            throw new FormatException($"malformed plateau state: {e.Message}", e);
        }
    }

    private sealed record Saved(double Best, int BadEpochs, double? Rate);
}
