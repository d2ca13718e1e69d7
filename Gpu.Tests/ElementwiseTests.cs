using Gpu.Runtime;

namespace Gpu.Tests;

[Collection(DeviceCollection.Name)]
public sealed class ElementwiseTests(DeviceFixture devices)
{
    public static TheoryData<string, int> Sizes => new()
    {
        { "fast", 1 }, { "fast", 7 }, { "fast", 33 }, { "fast", 1025 }, { "fast", 100_003 },
        { "gpulike", 1 }, { "gpulike", 33 }, { "gpulike", 1025 },
        { "cuda", 1 }, { "cuda", 33 }, { "cuda", 1025 },
        { "cuda-kernels", 1 }, { "cuda-kernels", 33 }, { "cuda-kernels", 1025 },
        { "opencl", 1 }, { "opencl", 33 }, { "opencl", 1025 },
        { "host", 1 }, { "host", 7 }, { "host", 33 }, { "host", 1025 }, { "host", 100_003 }, { "host", 600_001 },
    };

    [SkippableTheory]
    [MemberData(nameof(Sizes))]
    public void ReluMatchesReference(string profile, int n)
    {
        var device = devices.Get(profile);
        var x = Numerics.Random(n, n);
        x[0] = 0f;
        if (n > 2)
            x[2] = float.NaN;
        using var input = device.FromArray(x, n);
        using var output = device.Zeros(n);
        Ops.Relu(input, output);
        var expected = x.Select(v => float.IsNaN(v) ? float.NaN : Math.Max(v, 0f)).ToArray();
        Assert.Equal(expected, output.ToArray());
    }

    [Fact]
    public void LargeElementwiseOpsRunInAlignedPiecesThatGiveTheBitsOfOnePiece()
    {
        // From 2^19 elements the host path splits an elementwise op over the cores. The pieces must
        // cover the tensor exactly and start at multiples of 64, so that the vector loops (8 or 16
        // floats) leave the same elements to their scalar tails as in one piece: the bits must not
        // depend on the number of cores, whatever rounding the vector and scalar code have.
        const int n = 600_001;
        var pieces = new System.Collections.Concurrent.ConcurrentBag<(int Start, int Count)>();
        Gpu.Runtime.Backends.Host.HostElementwise.For(n, new RecordingOp(pieces));
        var sorted = pieces.OrderBy(p => p.Start).ToList();
        Assert.Equal(Gpu.Runtime.Backends.Host.HostThreads.Count, sorted.Count); // one piece a core
        int next = 0;
        foreach (var (start, count) in sorted)
        {
            Assert.Equal(next, start);
            Assert.True(start % 64 == 0, $"piece at {start}");
            next = start + count;
        }

        Assert.Equal(n, next);

        var h = new Gpu.Kernels.AdamRule
        {
            Lr = 1e-3f, Beta1 = 0.9f, OneMinusBeta1 = 0.1f, Beta2 = 0.999f, OneMinusBeta2 = 0.001f, Eps = 1e-8f,
            WeightDecay = 0.01f, StepSize = 1e-2f, BiasCorrection2Sqrt = 0.0447f,
        };
        var g = Numerics.Random(n, 3);
        float[] Step(IEnumerable<(int Start, int Count)> split)
        {
            var p = Numerics.Random(n, 1);
            var m = Numerics.Random(n, 2, 0.1f);
            var v = Numerics.Random(n, 4, 0.1f).Select(Math.Abs).ToArray();
            foreach (var (start, count) in split)
                Gpu.Runtime.Backends.Host.HostOps.OptimizerStep(h, p.AsSpan(start, count), g.AsSpan(start, count), m.AsSpan(start, count), v.AsSpan(start, count), []);
            return p;
        }

        Assert.Equal(Step([(0, n)]), Step(sorted));
    }

    private readonly struct RecordingOp(System.Collections.Concurrent.ConcurrentBag<(int Start, int Count)> pieces) : Gpu.Runtime.Backends.Host.IRangeOp
    {
        public void Run(int start, int count) => pieces.Add((start, count));
    }

    [Fact]
    public void ReluRunsInPlace()
    {
        using var t = devices.Fast.FromArray([-1f, 2f, -3f, 4f], 4);
        Ops.Relu(t, t);
        Assert.Equal([0f, 2f, 0f, 4f], t.ToArray());
    }

    [SkippableTheory]
    [MemberData(nameof(Sizes))]
    public void ReluBackwardMasksByOutputAndIsZeroAtZero(string profile, int n)
    {
        var device = devices.Get(profile);
        var x = Numerics.Random(n, n + 1);
        x[0] = 0f;
        var dy = Numerics.Random(n, n + 2);
        using var input = device.FromArray(x, n);
        using var output = device.Zeros(n);
        using var gradOutput = device.FromArray(dy, n);
        using var gradInput = device.Zeros(n);
        Ops.Relu(input, output);
        Ops.ReluBackward(output, gradOutput, gradInput);
        var expected = x.Select((v, i) => v > 0 ? dy[i] : 0f).ToArray();
        Assert.Equal(expected, gradInput.ToArray());
    }

    [Fact]
    public void ReluBackwardMatchesFiniteDifferences()
    {
        // d/dx sum(w * relu(x)) = w * [x > 0], away from the kink.
        var device = devices.Fast;
        float[] x = [-0.7f, -0.2f, 0.3f, 0.9f, 1.5f];
        float[] w = [0.5f, -1.0f, 2.0f, -0.25f, 1.0f];
        using var gradOutput = device.FromArray(w, 5);
        using var input = device.FromArray(x, 5);
        using var output = device.Zeros(5);
        using var gradInput = device.Zeros(5);
        Ops.Relu(input, output);
        Ops.ReluBackward(output, gradOutput, gradInput);
        var analytic = gradInput.ToArray();
        double Objective(float[] at)
        {
            input.CopyFrom(at);
            Ops.Relu(input, output);
            return output.ToArray().Select((v, j) => (double)v * w[j]).Sum();
        }

        Numerics.AssertMatchesCentralDifferences(x, Objective, analytic, 1e-2f, 1e-4, 1e-3, i => $"relu grad {i}");
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void FillAndZero(string profile)
    {
        var device = devices.Get(profile);
        using var t = device.Zeros(33, 3);
        t.Fill(2.5f);
        Assert.All(t.ToArray(), v => Assert.Equal(2.5f, v));
        t.Rows(1, 2).Zero();
        var values = t.ToArray();
        Assert.All(values[3..9], v => Assert.Equal(0f, v));
        Assert.Equal(2.5f, values[2]);
        Assert.Equal(2.5f, values[9]);
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void GatherRowsAssemblesAShuffledBatch(string profile)
    {
        var device = devices.Get(profile);
        var source = Enumerable.Range(0, 7 * 3).Select(i => (float)i).ToArray();
        int[] permutation = [6, 2, 0, 5, 1, 3, 4];
        using var src = device.FromArray(source, 7, 3);
        using var indices = device.Indices(permutation);
        using var batch = device.Zeros(3, 3);
        Ops.GatherRows(src, indices, 2, batch);
        Assert.Equal([0f, 1f, 2f, 15f, 16f, 17f, 3f, 4f, 5f], batch.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.GatherRows(src, indices, 5, batch));
        using var bad = device.Indices([0, 7]);
        using var pair = device.Zeros(2, 3);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Ops.GatherRows(src, bad, 0, pair));
        Assert.Contains("7 rows", error.Message);
    }
}
