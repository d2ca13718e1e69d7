using BenchmarkDotNet.Attributes;
using Gpu.Runtime;
using MathNet.Numerics.LinearAlgebra;

namespace Gpu.Bench.Suites;

/// <summary>
/// C = op(A) op(B) in the three forms a Linear layer uses (NN: dX = dY W; NT: Y = X W^T; TN:
/// dW = dY^T X), from the reference example's 100x10x20 to 2048 (full preset; the short preset stops
/// at 512 on the CPU). Baselines in the same run: a C# triple loop, MathNet's Matrix&lt;float&gt; and,
/// on CUDA, cuBLAS (the "Auto" method) next to our tiled kernel ("OwnKernel"). On the CPU, "Auto" is
/// the host SIMD path and "OwnKernel" the ILGPU row-blocked kernel on the CPU accelerator.
/// </summary>
[BenchmarkCategory("MatMul")]
public class MatMulBenchmarks : IHasWork, IDisposable
{
    private float[] a = [], b = [], c = [];
    private Matrix<float>? ma, mb, mc;
    private Device? device;
    private Tensor? ta, tb, tc;

    public static IEnumerable<string> Sizes() =>
        BenchConfig.IsFull ? ["100x10x20", "256", "512", "1024", "2048"] : ["100x10x20", "256", "512"];

    [ParamsSource(nameof(Sizes))]
    public string Size { get; set; } = "256";

    [Params("NN", "NT", "TN")]
    public string Form { get; set; } = "NN";

    [ParamsSource(nameof(Devices))]
    public string DeviceName { get; set; } = "cpu";

    // On the CPU, OwnKernel already runs the ILGPU kernel next to the host path (Auto).
    public static IEnumerable<string> Devices() => BenchDevices.Available(includeCpuKernels: false);

    private (int M, int K, int N) Dims => Size == "100x10x20" ? (100, 10, 20) : (int.Parse(Size), int.Parse(Size), int.Parse(Size));

    private bool TransposeA => Form == "TN";

    private bool TransposeB => Form == "NT";

    public (double Amount, string Unit) Work(string method)
    {
        var (m, k, n) = Dims;
        return (2.0 * m * n * k, "GFLOP/s");
    }

    [GlobalSetup]
    public void Setup()
    {
        var (m, k, n) = Dims;
        var random = new Random(1);
        a = [.. Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble())];
        b = [.. Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble())];
        c = new float[m * n];
        ma = TransposeA ? Matrix<float>.Build.Dense(k, m, a) : Matrix<float>.Build.Dense(m, k, a);
        mb = TransposeB ? Matrix<float>.Build.Dense(n, k, b) : Matrix<float>.Build.Dense(k, n, b);
        mc = Matrix<float>.Build.Dense(m, n);
        device = BenchDevices.Open(DeviceName);
        ta = TransposeA ? device.FromArray(a, k, m) : device.FromArray(a, m, k);
        tb = TransposeB ? device.FromArray(b, n, k) : device.FromArray(b, k, n);
        tc = device.Zeros(m, n);
        device.CompileKernels();
        Ops.MatMul(ta, tb, tc, TransposeA, TransposeB);
        device.Synchronize();
    }

    [Benchmark(Baseline = true)]
    public void CSharpLoop()
    {
        var (m, k, n) = Dims;
        Array.Clear(c);
        for (int i = 0; i < m; i++)
        {
            for (int kk = 0; kk < k; kk++)
            {
                float aik = TransposeA ? a[kk * m + i] : a[i * k + kk];
                for (int j = 0; j < n; j++)
                    c[i * n + j] += aik * (TransposeB ? b[j * k + kk] : b[kk * n + j]);
            }
        }
    }

    [Benchmark]
    public void MathNet()
    {
        if (TransposeA)
            ma!.TransposeThisAndMultiply(mb!, mc!);
        else if (TransposeB)
            ma!.TransposeAndMultiply(mb!, mc!);
        else
            ma!.Multiply(mb!, mc!);
    }

    /// <summary>The device's default: cuBLAS on CUDA when it loads, our kernel elsewhere.</summary>
    [Benchmark]
    public void Auto()
    {
        Ops.MatMul(ta!, tb!, tc!, TransposeA, TransposeB);
        device!.Synchronize();
    }

    /// <summary>Our own ILGPU kernel: tiled on a GPU, row-blocked on the CPU accelerator.</summary>
    [Benchmark]
    public void OwnKernel()
    {
        var algorithm = device!.Kind == DeviceKind.Cpu ? MatMulAlgorithm.RowBlocked : MatMulAlgorithm.Tiled;
        Ops.MatMul(ta!, tb!, tc!, TransposeA, TransposeB, algorithm: algorithm);
        device.Synchronize();
    }

    [GlobalCleanup]
    public void Dispose()
    {
        tc?.Dispose();
        tb?.Dispose();
        ta?.Dispose();
        device?.Dispose();
        GC.SuppressFinalize(this);
    }
}
