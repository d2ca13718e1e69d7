using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>Loss forwards against double-precision references and backwards against finite differences.</summary>
[Collection(DeviceCollection.Name)]
public sealed class LossTests(DeviceFixture devices)
{
    public static TheoryData<string, int> Sizes => new()
    {
        { "fast", 1 }, { "fast", 7 }, { "fast", 33 }, { "fast", 1025 }, { "fast", 100_003 },
        { "gpulike", 1 }, { "gpulike", 7 }, { "gpulike", 1025 }, { "gpulike", 70_001 },
        { "cuda", 1 }, { "cuda", 7 }, { "cuda", 1025 }, { "cuda", 70_001 },
        { "cuda-kernels", 1 }, { "cuda-kernels", 7 }, { "cuda-kernels", 1025 }, { "cuda-kernels", 70_001 },
        { "opencl", 1 }, { "opencl", 7 }, { "opencl", 1025 }, { "opencl", 70_001 },
        { "host", 1 }, { "host", 7 }, { "host", 33 }, { "host", 1025 }, { "host", 100_003 },
    };

    [SkippableTheory]
    [MemberData(nameof(Sizes))]
    public void MseMeanSumAndNone(string profile, int n)
    {
        var device = devices.Get(profile);
        var x = Numerics.Random(n, 1);
        var y = Numerics.Random(n, 2);
        using var input = device.FromArray(x, n, 1);
        using var target = device.FromArray(y, n, 1);
        using var loss = device.Zeros();
        Ops.MseLoss(input, target, loss);
        Numerics.AssertClose(Reference.Mse(x, y, mean: true), loss.Item(), 1e-7, 1e-5, "mean");
        Ops.MseLoss(input, target, loss, Reduction.Sum);
        Numerics.AssertClose(Reference.Mse(x, y, mean: false), loss.Item(), 1e-6, 1e-5, "sum");
        using var each = device.Zeros(n, 1);
        Ops.MseLoss(input, target, each, Reduction.None);
        Numerics.AssertClose(x.Select((v, i) => (v - y[i]) * (v - y[i])).ToArray(), each.ToArray(), 1e-7, 1e-6, "none");
    }

    [SkippableTheory]
    [MemberData(nameof(Sizes))]
    public void BceWithLogitsIsStableAndMatchesTextbookForm(string profile, int n)
    {
        var device = devices.Get(profile);
        var x = Numerics.Random(n, 3, scale: 30f); // large logits: the naive form overflows
        var y = Numerics.Random(n, 4).Select(v => (v + 1) / 2).ToArray();
        using var input = device.FromArray(x, n);
        using var target = device.FromArray(y, n);
        using var loss = device.Zeros();
        Ops.BceWithLogitsLoss(input, target, loss);
        double expected = x.Select((v, i) => Reference.BceWithLogits(v, y[i])).Average();
        Numerics.AssertClose(expected, loss.Item(), 1e-6, 1e-5, "bce mean");
        using var each = device.Zeros(n);
        Ops.BceWithLogitsLoss(input, target, each, Reduction.None);
        Numerics.AssertClose(x.Select((v, i) => (float)Reference.BceWithLogits(v, y[i])).ToArray(), each.ToArray(), 1e-5, 1e-5, "bce none");
    }

    [SkippableTheory]
    [InlineData("fast", 1, 1)]
    [InlineData("fast", 7, 3)]
    [InlineData("fast", 33, 10)]
    [InlineData("fast", 1025, 7)]
    [InlineData("gpulike", 33, 10)]
    [InlineData("cuda", 33, 10)]
    [InlineData("opencl", 33, 10)]
    [InlineData("gpulike", 1025, 2)]
    [InlineData("cuda", 1025, 2)]
    [InlineData("opencl", 1025, 2)]
    [InlineData("host", 1, 1)]
    [InlineData("host", 33, 10)]
    [InlineData("host", 1025, 7)]
    public void CrossEntropyMatchesLogSoftmaxNll(string profile, int rows, int classes)
    {
        var device = devices.Get(profile);
        var logits = Numerics.Random(rows * classes, 5, scale: 20f);
        var rng = new Random(6);
        var labels = Enumerable.Range(0, rows).Select(_ => (float)rng.Next(classes)).ToArray();
        using var input = device.FromArray(logits, rows, classes);
        using var target = device.FromArray(labels, rows);
        using var loss = device.Zeros();
        Ops.CrossEntropyLoss(input, target, loss);
        double expected = Enumerable.Range(0, rows).Select(r => Reference.CrossEntropyRow(logits, r, classes, (int)labels[r])).Average();
        Numerics.AssertClose(expected, loss.Item(), 1e-6, 1e-5, "cross-entropy");
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void CrossEntropyWithAnInvalidLabelIsNaN(string profile)
    {
        var device = devices.Get(profile);
        using var input = device.FromArray([1f, 2f, 3f, 4f], 2, 2);
        using var target = device.FromArray([0f, 2f], 2);
        using var loss = device.Zeros();
        Ops.CrossEntropyLoss(input, target, loss);
        Assert.True(float.IsNaN(loss.Item()));
    }

    [SkippableTheory]
    [InlineData("mse", "fast")]
    [InlineData("bce", "fast")]
    [InlineData("ce", "fast")]
    [InlineData("mse", "host")]
    [InlineData("bce", "host")]
    [InlineData("ce", "host")]
    [InlineData("mse", "cuda")]
    [InlineData("bce", "cuda")]
    [InlineData("ce", "cuda")]
    public void BackwardMatchesFiniteDifferences(string loss, string profile)
    {
        var device = devices.Get(profile);
        int rows = 5, columns = loss == "ce" ? 4 : 1;
        var x = Numerics.Random(rows * columns, 7, scale: 2f);
        var y = loss switch
        {
            "ce" => [0f, 3f, 1f, 2f, 3f],
            "bce" => Numerics.Random(rows, 8).Select(v => (v + 1) / 2).ToArray(),
            _ => Numerics.Random(rows, 8),
        };
        using var input = device.FromArray(x, rows, columns);
        using var target = device.FromArray(y, loss == "ce" ? [rows] : [rows, columns]);
        using var value = device.Zeros();
        using var grad = device.Zeros(rows, columns);

        void Forward() => (loss switch
        {
            "mse" => (Action)(() => Ops.MseLoss(input, target, value)),
            "bce" => () => Ops.BceWithLogitsLoss(input, target, value),
            _ => () => Ops.CrossEntropyLoss(input, target, value),
        })();

        switch (loss)
        {
            case "mse": Ops.MseLossBackward(input, target, grad); break;
            case "bce": Ops.BceWithLogitsLossBackward(input, target, grad); break;
            default: Ops.CrossEntropyLossBackward(input, target, grad); break;
        }

        double LossAt(float[] at)
        {
            input.CopyFrom(at);
            Forward();
            return value.Item();
        }

        Numerics.AssertMatchesCentralDifferences(x, LossAt, grad.ToArray(), 1e-2f, 2e-4, 2e-3, i => $"{loss} d/dx[{i}]");
    }

    [SkippableTheory]
    [InlineData("fast", 1, 1)]
    [InlineData("fast", 100, 20)]
    [InlineData("fast", 1025, 33)]
    [InlineData("fast", 7, 1025)]
    [InlineData("gpulike", 1, 1)]
    [InlineData("cuda", 1, 1)]
    [InlineData("opencl", 1, 1)]
    [InlineData("gpulike", 1025, 33)]
    [InlineData("cuda", 1025, 33)]
    [InlineData("opencl", 1025, 33)]
    [InlineData("gpulike", 3, 300)]
    [InlineData("cuda", 3, 300)]
    [InlineData("opencl", 3, 300)]
    [InlineData("host", 1, 1)]
    [InlineData("host", 1025, 33)]
    public void ColumnSumsMatchReference(string profile, int rows, int columns)
    {
        var device = devices.Get(profile);
        var x = Numerics.Random(rows * columns, rows + columns);
        var start = Numerics.Random(columns, 9);
        using var input = device.FromArray(x, rows, columns);
        using var output = device.FromArray(start, columns);
        Ops.ColumnSums(input, output);
        var expected = new float[columns];
        for (int j = 0; j < columns; j++)
            expected[j] = (float)Enumerable.Range(0, rows).Sum(r => (double)x[r * columns + j]);
        Numerics.AssertClose(expected, output.ToArray(), 1e-6 * rows, 1e-5, "column sums");
        Ops.ColumnSums(input, output, accumulate: true);
        Numerics.AssertClose(expected.Select(v => 2 * v).ToArray(), output.ToArray(), 2e-6 * rows, 1e-5, "accumulated column sums");
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void RegularizationPenaltySumsL1AndL2(string profile)
    {
        var device = devices.Get(profile);
        var w = Numerics.Random(1025, 10);
        using var parameters = device.FromArray(w, 1025);
        using var penalty = device.Zeros();
        Ops.RegularizationPenalty(parameters, 0.01f, 0.5f, penalty);
        double expected = w.Sum(v => 0.01 * Math.Abs(v) + 0.5 * v * v);
        Numerics.AssertClose(expected, penalty.Item(), 1e-6, 1e-5, "penalty");
    }
}

/// <summary>
/// The pointwise losses (MSE, BCE with logits, Huber at three deltas) against torch.nn.functional
/// (Fixtures/make_loss_fixtures.py): mean, sum and unreduced values and the input gradients, on every
/// device profile, with differences exactly at delta where Huber changes form.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class PointwiseLossTests(DeviceFixture devices)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        using var doc = Fixture.Json("losses.json");
        foreach (var profile in (string[])["host", "fast", "gpulike", .. Profiles.Gpus])
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
                data.Add(profile, c.GetProperty("name").GetString()!);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void MatchesTorch(string profile, string name)
    {
        var device = devices.Get(profile);
        using var doc = Fixture.Json("losses.json");
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var loss = name switch
        {
            "mse" => PointwiseLoss.SquaredError,
            "bce" => PointwiseLoss.BceWithLogits,
            _ => PointwiseLoss.Huber(float.Parse(name.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)),
        };
        var x = Fixture.Floats(c.GetProperty("input"));
        int n = x.Length;
        using var input = device.FromArray(x, n, 1);
        using var target = device.FromArray(Fixture.Floats(c.GetProperty("target")), n, 1);
        using var value = device.Zeros();
        using var each = device.Zeros(n, 1);
        using var grad = device.Zeros(n, 1);
        foreach (var (reduction, key) in new[] { (Reduction.Mean, "mean"), (Reduction.Sum, "sum") })
        {
            Ops.PointwiseLoss(loss, input, target, value, reduction);
            Numerics.AssertClose(c.GetProperty(key).GetDouble(), value.Item(), 1e-6, 1e-5, $"{name} {key} on {profile}");
            Ops.PointwiseLossBackward(loss, input, target, grad, reduction);
            Numerics.AssertClose(Fixture.Floats(c.GetProperty($"grad_{key}")), grad.ToArray(), 1e-7, 1e-5, $"{name} gradient ({key}) on {profile}");
        }

        Ops.PointwiseLoss(loss, input, target, each, Reduction.None);
        Numerics.AssertClose(Fixture.Floats(c.GetProperty("none")), each.ToArray(), 1e-6, 1e-5, $"{name} none on {profile}");
    }

    [Fact]
    public void HuberNeedsAPositiveDelta()
    {
        Assert.Contains("delta must be a finite number > 0", Assert.Throws<ArgumentOutOfRangeException>(() => PointwiseLoss.Huber(0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PointwiseLoss.Huber(float.NaN));
    }
}
