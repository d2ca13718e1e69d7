using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Learning-rate schedules against torch.optim.lr_scheduler (Fixtures/make_schedule_fixtures.py): the
/// rate (and a one-cycle schedule's momentum) before every optimizer step of a run with mini-batches
/// and of one with full batches; then their grammar and their errors.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class ScheduleTests(DeviceFixture devices)
{
    public static TheoryData<string> Cases()
    {
        using var doc = Fixture.Json("schedules.json");
        return new(doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryStepsRateMatchesTorch(string name)
    {
        using var doc = Fixture.Json("schedules.json");
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        double lr = c.GetProperty("lr").GetDouble();
        int epochs = c.GetProperty("epochs").GetInt32(), perEpoch = c.GetProperty("steps_per_epoch").GetInt32();
        var expected = c.GetProperty("lrs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var momenta = c.GetProperty("momenta").ValueKind == JsonValueKind.Array ? c.GetProperty("momenta").EnumerateArray().Select(e => e.GetDouble()).ToArray() : null;
        var losses = c.GetProperty("losses").ValueKind == JsonValueKind.Array ? c.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray() : null;

        using var model = Sequential.Mlp(2, [], 1).To(devices.Host, 0);
        using Optimizer optimizer = c.GetProperty("optimizer").GetString() == "adam"
            ? new Adam(model.Parameters(), new AdamOptions(Lr: lr))
            : new SGD(model.Parameters(), new SGDOptions(Lr: lr, Momentum: 0.9));
        var schedule = LrSchedule.Parse(c.GetProperty("schedule").GetString()!);
        var run = new ScheduleRun(lr, (long)epochs * perEpoch, perEpoch);
        schedule.Validate(run);
        long step = 0;
        for (int e = 0; e < epochs; e++)
        {
            for (int s = 0; s < perEpoch; s++, step++)
            {
                schedule.BeforeStep(optimizer, run, step, e);
                Numerics.AssertClose(expected[step], optimizer.LearningRate, 1e-15, 1e-12, $"{name} lr at step {step}");
                if (momenta is not null)
                    Numerics.AssertClose(momenta[step], optimizer.Momentum!.Value, 1e-15, 1e-12, $"{name} momentum at step {step}");
            }

            if (schedule.WatchesLoss)
                schedule.AfterEpoch(losses![e]);
        }
    }

    [Theory]
    [InlineData("constant", "constant")]
    [InlineData("step(3)", "step(3,gamma=0.1)")]
    [InlineData("STEP( 3 , gamma=0.5 )", "step(3,gamma=0.5)")]
    [InlineData("exponential(0.95)", "exponential(0.95)")]
    [InlineData("cosine", "cosine(min=0,warmup=0)")]
    [InlineData("cosine(warmup=100,min=1e-4)", "cosine(min=0.0001,warmup=100)")]
    [InlineData("onecycle", "onecycle(pct=0.3)")]
    [InlineData("plateau(factor=0.5)", "plateau(patience=10,factor=0.5)")]
    public void SchedulesAreWrittenWithEveryArgument(string text, string formatted)
    {
        Assert.Equal(formatted, LrSchedule.Parse(text).Format());
        Assert.Equal(formatted, LrSchedule.Parse(formatted).Format());
    }

    [Fact]
    public void EveryRegisteredScheduleIsListed()
    {
        Assert.Equal(["constant", "cosine", "exponential", "onecycle", "plateau", "step"], Registry<ScheduleEntry>.Names);
        foreach (var entry in Registry<ScheduleEntry>.All)
            Assert.Equal(entry.Name, LrSchedule.Parse(entry.Name == "step" ? "step(1)" : entry.Name == "exponential" ? "exponential(0.5)" : entry.Name).Name);
    }

    [Theory]
    [InlineData("cosin", "unknown schedule 'cosin' (known: constant, cosine(min=0,warmup=0), exponential(gamma)")]
    [InlineData("step(0)", "every '0' is not a whole number >= 1")]
    [InlineData("step(2,gamma=0)", "gamma must be a finite number > 0, got 0")]
    [InlineData("exponential(-1)", "gamma must be a finite number > 0, got -1")]
    [InlineData("exponential", "exponential takes 1 positional argument, got 0")]
    [InlineData("cosine(warmup=-1)", "warmup '-1' is not a whole number >= 0")]
    [InlineData("cosine(min=-0.1)", "min must be a finite number >= 0")]
    [InlineData("onecycle(pct=1)", "pct must lie strictly between 0 and 1, got 1")]
    [InlineData("onecycle(pct=0)", "pct must lie strictly between 0 and 1, got 0")]
    [InlineData("plateau(factor=1)", "factor must lie strictly between 0 and 1, got 1")]
    [InlineData("plateau(patience=-1)", "patience '-1' is not a whole number >= 0")]
    [InlineData("plateau(cooldown=2)", "plateau has no argument 'cooldown' (it takes patience, factor)")]
    [InlineData("cosine,step(2)", "expected one word")]
    public void BadSchedulesAreNamed(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => LrSchedule.Parse(text));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void ArgumentsThatDoNotFitTheRunAreNamed()
    {
        var run = new ScheduleRun(0.1, 40, 4);
        Assert.Contains("warmup 40 must be less than the run's 40 optimizer steps", Assert.Throws<ArgumentException>(() => LrSchedule.Parse("cosine(warmup=40)").Validate(run)).Message);
        Assert.Contains("leaves no step to warm up in", Assert.Throws<ArgumentException>(() => LrSchedule.Parse("onecycle(pct=0.02)").Validate(run)).Message);
        LrSchedule.Parse("cosine(warmup=39)").Validate(run);
    }

    [Fact]
    public void ACosineResumedOverAnotherRunLengthIsRefused()
    {
        var first = LrSchedule.Parse("cosine(warmup=2)");
        first.Validate(new ScheduleRun(0.1, 40, 4));
        var resumed = LrSchedule.Parse("cosine(warmup=2)");
        resumed.LoadState(first.SaveState());
        resumed.Validate(new ScheduleRun(0.1, 40, 4));
        var longer = LrSchedule.Parse("cosine(warmup=2)");
        longer.LoadState(first.SaveState());
        Assert.Contains("begun over a run of 40 optimizer steps, but this run has 80", Assert.Throws<ArgumentException>(() => longer.Validate(new ScheduleRun(0.1, 80, 4))).Message);
    }
}
