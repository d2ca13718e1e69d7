using Gpu.Runtime;
using Gpu.Runtime.Backends.Host;
using MathNet.Numerics.LinearAlgebra;

namespace Gpu.Tests;

/// <summary>Matrix products against MathNet.Numerics in double precision, on both CPU profiles and every algorithm.</summary>
[Collection(DeviceCollection.Name)]
public sealed class MatMulTests(DeviceFixture devices)
{
    public static TheoryData<string, int, int, int> Shapes => new()
    {
        { "fast", 1, 1, 1 }, { "fast", 7, 33, 1 }, { "fast", 33, 7, 65 }, { "fast", 1025, 3, 7 }, { "fast", 5, 1025, 9 }, { "fast", 3, 4, 1025 },
        { "fast", 100, 20, 10 }, { "fast", 64, 64, 64 },
        { "host", 1, 1, 1 }, { "host", 7, 33, 1 }, { "host", 33, 7, 65 }, { "host", 1025, 3, 7 }, { "host", 5, 1025, 9 }, { "host", 3, 4, 1025 },
        { "host", 100, 20, 10 }, { "host", 64, 64, 64 }, { "host", 130, 70, 17 }, { "host", 300, 257, 200 }, { "host", 130, 70, 600 }, { "host", 67, 48, 513 },
        { "gpulike", 1, 1, 1 }, { "gpulike", 7, 33, 1 }, { "gpulike", 33, 7, 65 }, { "gpulike", 130, 70, 17 }, { "gpulike", 3, 4, 1025 },
        { "gpulike", 100, 20, 10 }, { "gpulike", 64, 64, 64 },
        { "cuda", 1, 1, 1 }, { "cuda", 7, 33, 1 }, { "cuda", 33, 7, 65 }, { "cuda", 130, 70, 17 }, { "cuda", 3, 4, 1025 },
        { "cuda", 100, 20, 10 }, { "cuda", 64, 64, 64 }, { "cuda", 1300, 700, 1025 },
        { "cuda-kernels", 1, 1, 1 }, { "cuda-kernels", 7, 33, 1 }, { "cuda-kernels", 33, 7, 65 }, { "cuda-kernels", 130, 70, 17 }, { "cuda-kernels", 3, 4, 1025 },
        { "cuda-kernels", 100, 20, 10 }, { "cuda-kernels", 64, 64, 64 },
        { "opencl", 1, 1, 1 }, { "opencl", 7, 33, 1 }, { "opencl", 33, 7, 65 }, { "opencl", 130, 70, 17 }, { "opencl", 3, 4, 1025 },
        { "opencl", 100, 20, 10 }, { "opencl", 64, 64, 64 },
    };

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void AllFormsMatchMathNet(string profile, int m, int n, int k)
    {
        var device = devices.Get(profile);
        foreach (var algorithm in AlgorithmsFor(device))
        {
            foreach (var (transposeA, transposeB) in new[] { (false, false), (false, true), (true, false), (true, true) })
            {
                Run(device, m, n, k, transposeA, transposeB, withBias: true, accumulate: false, algorithm);
                Run(device, m, n, k, transposeA, transposeB, withBias: false, accumulate: true, algorithm);
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void ZeroInnerDimensionGivesBias(string profile)
    {
        var device = devices.Get(profile);
        using var a = device.Zeros(3, 0);
        using var b = device.Zeros(0, 2);
        using var bias = device.FromArray([1.5f, -2f], 2);
        using var c = device.FromArray([9f, 9f, 9f, 9f, 9f, 9f], 3, 2);
        Ops.MatMul(a, b, c, bias: bias);
        Assert.Equal([1.5f, -2f, 1.5f, -2f, 1.5f, -2f], c.ToArray());
    }

    // The host GEMM runs on 512-bit vectors where the CPU has AVX-512 (6 x 64 or 24 x 16 blocks) and
    // on Vector<T> elsewhere (each emulated where absent): all must equal a double-precision product,
    // and each other bit for bit, so a model trains to the same weights on either kind of machine.
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 33, 5)]
    [InlineData(13, 40, 300)]
    [InlineData(100, 65, 20)]
    [InlineData(97, 31, 513)]
    [InlineData(150, 130, 300)] // two whole 64-column panels and a partial one, the columns split over cores
    [InlineData(400, 130, 70)] // the same panels, the rows split over cores (more than 384 rows)
    [InlineData(20, 48, 130)] // 32-column panels: one whole, one half (a whole vector)
    [InlineData(9, 50, 260)] // 32-column panels: the partial one ends inside a vector
    [InlineData(700, 20, 70)] // 17-31 columns: one 32-column panel on AVX-512, its second vector partial
    [InlineData(100, 1, 20)] // one column (the reference example's last layer): the narrow kernel stores 16 rows as one vector
    [InlineData(4000, 7, 20)] // up to 8 columns, large enough for 512-bit vectors: the public entry picks the narrow kernel (rows on the lanes)
    [InlineData(600, 10, 20)] // 9-10 columns, short K, under 1,024 rows: the public entry runs it transposed
    [InlineData(2, 1400, 50)] // up to 8 rows: the public entry runs it transposed, on the narrow kernel
    [InlineData(3, 70, 130)] // the same path by hand: two slices of K, a partial block of the transpose's rows
    [InlineData(1500, 12, 150)] // narrow kernel with 9-24 columns from 1,024 rows: a whole and a partial pass of 8 columns, two slices of K, a partial block of rows
    [InlineData(30, 100, 70)] // 64-column panels: the partial one holds two whole vectors and part of a third
    [InlineData(49, 37, 131)] // tall kernel: a partial 24-row band, a partial 8-row group, depth % 8 in both slices
    [InlineData(257, 260, 1010)] // large enough that the public entry picks the tall kernel itself
    [InlineData(1030, 70, 40)] // TN with M >= 1,024: A packed (k-steps 4 KiB apart), the last band partial; smaller TN A is read in place
    public void AllKernelsGiveTheSameBits(int m, int n, int k)
    {
        if (m == 257 && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.Equal(HostMatMul.Kernel.Tall, HostMatMul.Choose(Gpu.Kernels.MatMulShape.Create(m, n, k, false, false, false, false)));
        var plain = Gpu.Kernels.MatMulShape.Create(m, n, k, false, false, false, false);
        if ((m, n) is (600, 10) || ((m, n) is (2, 1400) && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated))
            Assert.Equal(HostMatMul.Kernel.Transposed, HostMatMul.Choose(plain));
        if ((m, n) is (4000, 7) or (1500, 12) && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.Equal(HostMatMul.Kernel.Narrow, HostMatMul.Choose(plain));

        var random = new Random(m * 1000 + n + k);
        foreach (var (transposeA, transposeB) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            foreach (bool withBias in new[] { true, false })
            {
                var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var b = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var bias = withBias ? Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray() : null;
                var old = Enumerable.Range(0, m * n).Select(_ => (float)random.NextDouble()).ToArray();
                var shape = Gpu.Kernels.MatMulShape.Create(m, n, k, transposeA, transposeB, withBias, accumulate: !withBias);
                var narrow = (float[])old.Clone();
                Gpu.Runtime.Backends.Host.HostMatMul.Run(HostMatMul.Kernel.Vector, a, b, narrow, bias, shape);
                foreach (var kernel in new[] { HostMatMul.Kernel.Wide, HostMatMul.Kernel.Tall, HostMatMul.Kernel.Transposed, HostMatMul.Kernel.Narrow })
                {
                    var result = (float[])old.Clone();
                    Gpu.Runtime.Backends.Host.HostMatMul.Run(kernel, a, b, result, bias, shape);
                    Assert.Equal(narrow, result);
                }

                var wide = narrow;

                var ma = transposeA ? Matrix<double>.Build.Dense(k, m, (i, j) => a[i * m + j]).Transpose() : Matrix<double>.Build.Dense(m, k, (i, j) => a[i * k + j]);
                var mb = transposeB ? Matrix<double>.Build.Dense(n, k, (i, j) => b[i * k + j]).Transpose() : Matrix<double>.Build.Dense(k, n, (i, j) => b[i * n + j]);
                var expected = ma * mb;
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        double value = expected[i, j] + (withBias ? bias![j] : old[i * n + j]);
                        Assert.True(Math.Abs(wide[i * n + j] - value) <= 1e-5 * (k + 1), $"({i},{j}) form {transposeA}/{transposeB}: {wide[i * n + j]} vs {value}");
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(20, 10, 30)] // 8-float kernel (small)
    [InlineData(150, 130, 300)] // 6 x 64 blocks, the columns split over cores, two slices of K
    [InlineData(700, 20, 70)] // 6 x 32 blocks
    [InlineData(300, 260, 600)] // the tall kernel
    [InlineData(4000, 7, 20)] // the narrow kernel
    [InlineData(2, 1400, 50)] // transposed, on the narrow kernel
    [InlineData(600, 10, 20)] // transposed, on the blocked kernels
    public void ReluEpilogueIsTheProductThenRelu(int m, int n, int k)
    {
        // Linear followed by ReLU runs as one product whose C gets torch.relu's rule (NaN kept,
        // -0 to 0) after each unit's last slice: every kernel must give the product's bits, then
        // the ReLU's.
        var random = new Random(m + n + k);
        var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        a[3] = float.NaN;
        var b = Enumerable.Range(0, k * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bias = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var old = Enumerable.Range(0, m * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        foreach (var kernel in new[] { HostMatMul.Kernel.Vector, HostMatMul.Kernel.Wide, HostMatMul.Kernel.Tall, HostMatMul.Kernel.Transposed, HostMatMul.Kernel.Narrow })
        {
            foreach (bool withBias in new[] { true, false })
            {
                var shape = Gpu.Kernels.MatMulShape.Create(m, n, k, false, true, withBias, accumulate: !withBias);
                var expected = (float[])old.Clone();
                HostMatMul.Run(kernel, a, b, expected, withBias ? bias : null, shape);
                for (int i = 0; i < expected.Length; i++)
                    expected[i] = expected[i] <= 0f ? 0f : expected[i];
                var fused = (float[])old.Clone();
                HostMatMul.Run(kernel, a, b, fused, withBias ? bias : null, shape, relu: true);
                Assert.Equal(expected, fused);
            }
        }
    }

    [Fact]
    public void OutputWithNaNIsOverwrittenNotRead()
    {
        var device = devices.Fast;
        using var a = device.FromArray([1f, 2f], 1, 2);
        using var b = device.FromArray([3f, 4f], 2, 1);
        using var c = device.FromArray([float.NaN], 1, 1);
        Ops.MatMul(a, b, c);
        Assert.Equal(11f, c.Item());
    }

    [Fact]
    public void TiledKernelIsRefusedWhereGroupsAreTooSmall()
    {
        var device = devices.Fast;
        using var a = device.Zeros(2, 2);
        using var c = device.Zeros(2, 2);
        var error = Assert.Throws<InvalidOperationException>(() => Ops.MatMul(a, a, c, algorithm: MatMulAlgorithm.Tiled));
        Assert.Contains("256", error.Message);
        Assert.Throws<InvalidOperationException>(() => Ops.MatMul(a, a, c, algorithm: MatMulAlgorithm.CuBlas));
    }

    private static IEnumerable<MatMulAlgorithm> AlgorithmsFor(Device device) => device.Kind == DeviceKind.Cuda
        ? [MatMulAlgorithm.CuBlas, MatMulAlgorithm.RegisterTiled, MatMulAlgorithm.Tiled, MatMulAlgorithm.RowBlocked]
        : device.Kind == DeviceKind.OpenCL
        ? [MatMulAlgorithm.RegisterTiled, MatMulAlgorithm.Tiled, MatMulAlgorithm.RowBlocked]
        : device.CpuProfile switch
    {
        CpuProfile.GpuLike => [MatMulAlgorithm.Tiled, MatMulAlgorithm.RegisterTiled, MatMulAlgorithm.RowBlocked],
        CpuProfile.Host => [MatMulAlgorithm.Host, MatMulAlgorithm.RowBlocked],
        _ => [MatMulAlgorithm.RowBlocked],
    };

    internal static void Run(Device device, int m, int n, int k, bool transposeA, bool transposeB, bool withBias, bool accumulate, MatMulAlgorithm algorithm)
    {
        int seed = m * 131 + n * 17 + k;
        var aData = Numerics.Random(m * k, seed);
        var bData = Numerics.Random(k * n, seed + 1);
        var biasData = Numerics.Random(n, seed + 2);
        var cStart = Numerics.Random(m * n, seed + 3);

        var a = Matrix<double>.Build.Dense(transposeA ? k : m, transposeA ? m : k, (i, j) => aData[i * (transposeA ? m : k) + j]);
        var b = Matrix<double>.Build.Dense(transposeB ? n : k, transposeB ? k : n, (i, j) => bData[i * (transposeB ? k : n) + j]);
        var expected = (transposeA ? a.Transpose() : a) * (transposeB ? b.Transpose() : b);
        if (withBias)
            expected = expected + Matrix<double>.Build.Dense(m, n, (_, j) => biasData[j]);
        if (accumulate)
            expected = expected + Matrix<double>.Build.Dense(m, n, (i, j) => cStart[i * n + j]);

        using var ta = device.FromArray(aData, a.RowCount, a.ColumnCount);
        using var tb = device.FromArray(bData, b.RowCount, b.ColumnCount);
        using var tBias = device.FromArray(biasData, n);
        using var tc = device.FromArray(cStart, m, n);
        Ops.MatMul(ta, tb, tc, transposeA, transposeB, withBias ? tBias : null, accumulate, algorithm);

        var expectedFlat = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                expectedFlat[i * n + j] = (float)expected[i, j];
        // Inputs are in [-1, 1): the float32 rounding error of a length-K dot product grows about like K * eps.
        double tolerance = 1e-6 * (k + 2);
        Numerics.AssertClose(expectedFlat, tc.ToArray(), tolerance, 1e-5,
            $"{algorithm} ({m}x{k})x({k}x{n}) tA={transposeA} tB={transposeB} bias={withBias} acc={accumulate} on {device.Info.Name}");
    }
}
