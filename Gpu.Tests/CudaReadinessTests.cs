using Gpu.Kernels;
using Gpu.Runtime;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;
using ILGPU.Runtime.Cuda;

namespace Gpu.Tests;

/// <summary>
/// The CUDA paths' logic, checked without a GPU: how NVIDIA's libraries are found, cuBLAS's arguments
/// (K = 0 included), the tiled kernels' grid for huge matrices, the 32-bit index limit, energy that
/// degrades to null, and log1p's accuracy where a GPU's approximate logarithm would lose it.
/// </summary>
public sealed class CudaReadinessTests
{
    [Fact]
    public void DriverLibrariesFallBackToTheirVersionedNames()
    {
        var cuda = NativeLibraries.Candidates("cuda");
        Assert.Equal("cuda", cuda[0]);
        Assert.True(cuda.ToList().IndexOf("libcuda.so.1") is > 0, string.Join(", ", cuda));
        Assert.Contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1", cuda);
        var nvml = NativeLibraries.Candidates("nvidia-ml.so");
        Assert.Equal("libnvidia-ml.so.1", nvml[1]);
        var cublas = NativeLibraries.Candidates("libcublas.so.12");
        Assert.Equal(["libcublas.so.12", "libcublas.so.13"], cublas.Take(2));
        Assert.Contains("/usr/local/cuda/lib64/libcublas.so.13", cublas);
        Assert.Equal(["libz.so.1"], NativeLibraries.Candidates("libz.so.1")); // not NVIDIA's: left alone
    }

    [Fact]
    public void TheCpuPeakIsMeasuredAndGpuPeaksFollowTheArchitecture()
    {
        using var device = Device.CreateCpu();
        var peak = PeakFlops.Of(device);
        Assert.NotNull(peak);
        Assert.True(peak!.Value.Flops > 1e9, $"{peak.Value.Flops} FLOP/s");
        Assert.Contains("FMA probe", peak.Value.Source);
        Assert.Equal(128, PeakFlops.FpLanesPerMultiprocessor(9, 0)); // H100/H200
        Assert.Equal(64, PeakFlops.FpLanesPerMultiprocessor(8, 0));  // A100
        Assert.Null(PeakFlops.FpLanesPerMultiprocessor(12, 0));      // unknown: no guess
    }

    [SkippableFact]
    public void AnAbsentDriverIsNamedInTheDeviceListing()
    {
        Skip.If(Device.Discover().Any(d => d.Kind == DeviceKind.Cuda && d.IsUsable), "a CUDA device is present");
        var cuda = Device.Discover().Where(d => d.Kind == DeviceKind.Cuda).ToList();
        Assert.NotEmpty(cuda);
        Assert.Contains(cuda, d => d.Problem is { } p && (p.Contains("libcuda", StringComparison.Ordinal) || p.Contains("could not be initialised", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(3, 2, 0, false, false)]
    [InlineData(3, 2, 0, true, true)]
    [InlineData(1, 1, 1, false, false)]
    [InlineData(5, 7, 4, true, false)]
    public void CuBlasArgumentsSwapOperandsAndKeepLeadingDimensionsPositive(int m, int n, int k, bool transposeA, bool transposeB)
    {
        var g = CuBlasMatMul.Arguments(MatMulShape.Create(m, n, k, transposeA, transposeB, false, false));
        // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B first, then A, n and m swapped.
        Assert.Equal(transposeB ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose, g.OpFirst);
        Assert.Equal(transposeA ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose, g.OpSecond);
        Assert.Equal((n, m, k), (g.M, g.N, g.K));
        // cublasSgemm requires every leading dimension >= max(1, rows of the stored matrix), K = 0 included.
        Assert.Equal(Math.Max(1, transposeB ? k : n), g.LdFirst);
        Assert.Equal(Math.Max(1, transposeA ? m : k), g.LdSecond);
        Assert.Equal(Math.Max(1, n), g.LdC);
        Assert.True(g.LdFirst >= 1 && g.LdSecond >= 1);
    }

    [Fact]
    public void TiledGridsPutRowsOnTheLargeAxis()
    {
        var grid = KernelBackend.TiledGrid("MatMul", MatMulShape.Create(10_000_000, 64, 8, false, false, false, false), MatMulKernels.Tile);
        Assert.Equal(156_250, grid.X); // 10M rows: 156,250 tiles, beyond Y's limit of 65,535
        Assert.Equal(1, grid.Y);
        var big = KernelBackend.TiledGrid("MatMul", MatMulShape.Create(300, 300, 8, false, false, false, false), MatMulKernels.BigTile);
        Assert.Equal((3, 3), (big.X, big.Y));
        var wide = Assert.Throws<InvalidOperationException>(() => KernelBackend.TiledGrid("MatMul", MatMulShape.Create(2, 5_000_000, 8, false, false, false, false), MatMulKernels.Tile));
        Assert.Contains("more than the 65,535", wide.Message);
    }

    [Fact]
    public void GridStrideLoopsRefuseSizesThatWouldWrapTheirIndex()
    {
        var geometry = new LaunchGeometry(270_336, 1024); // an H200: 132 SMs x 2,048 threads
        Assert.Equal(270_336, geometry.Threads(int.MaxValue - 270_336));
        var error = Assert.Throws<InvalidOperationException>(() => geometry.Threads(int.MaxValue - 1000));
        Assert.Contains("32-bit grid-stride loop", error.Message);
    }

    [Fact]
    public void EnergyDegradesToNullWithTheReasonWhenNvmlFails()
    {
        Assert.Equal(12.5, EnergyMeter.Read(() => 12_500, out var none));
        Assert.Null(none);
        var reading = EnergyMeter.Read(() => throw new NvmlException(NvmlReturn.NVML_ERROR_NO_PERMISSION), out var problem);
        Assert.Null(reading);
        Assert.True(problem!.Contains("NO_PERMISSION", StringComparison.OrdinalIgnoreCase) || problem.Contains("permission", StringComparison.OrdinalIgnoreCase), problem);
        Assert.DoesNotContain("Exception", problem);
        Assert.Null(EnergyMeter.Read(() => throw new DllNotFoundException("nvidia-ml"), out problem));
        Assert.Contains("nvidia-ml", problem);
    }

    [Fact]
    public void Log1PKeepsItsRelativeAccuracyForSmallArguments()
    {
        // What BCE-with-logits needs for |x| up to ~100: log(1 + exp(-|x|)).
        foreach (double x in new[] { 0.0, 0.5, 2, 3, 5, 10, 15, 20, 30, 60, 87 })
        {
            float e = (float)Math.Exp(-x);
            double expected = e < 1e-4 ? e - (double)e * e / 2 + (double)e * e * e / 3 : Math.Log(1 + (double)e); // .NET's LogP1 is log(1 + x), inexact here
            double actual = BceWithLogitsTerm.Log1P(e);
            Assert.True(Math.Abs(actual - expected) <= 2e-7 * expected + 1e-45, $"log1p(exp(-{x})): {actual:R} against {expected:R}");
        }
    }
}
