using Gpu.Kernels;
using ILGPU;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// <c>C = op(A) op(B) (+ bias per row) (+ C when accumulating)</c> with op a transpose when asked.
    /// A is (M, K) or (K, M) when transposed, B is (K, N) or (N, K), C is (M, N), bias is (N).
    /// The implementation follows <see cref="Device.MatMulAlgorithm"/> unless <paramref name="algorithm"/> forces one.
    /// </summary>
    public static void MatMul(
        Tensor a, Tensor b, Tensor c, bool transposeA = false, bool transposeB = false, Tensor? bias = null, bool accumulate = false,
        MatMulAlgorithm algorithm = MatMulAlgorithm.Auto) =>
        MatMulCore(nameof(MatMul), "lhs", "rhs", a, b, c, transposeA, transposeB, bias, accumulate, algorithm);

    /// <summary>
    /// The forward of torch.nn.Linear: <c>output = input weight^T + bias</c> with input (B, in),
    /// weight (out, in), bias (out) or null, output (B, out).
    /// </summary>
    public static void Linear(Tensor input, Tensor weight, Tensor? bias, Tensor output) =>
        MatMulCore(nameof(Linear), "input", "weight", input, weight, output, false, true, bias, false, MatMulAlgorithm.Auto);

    /// <summary>
    /// Column sums of a (rows, columns) matrix into a (columns) vector, added to it when accumulating:
    /// the bias gradient <c>db = sum over the batch of dY</c>.
    /// </summary>
    public static void ColumnSums(Tensor input, Tensor output, bool accumulate = false)
    {
        const string op = nameof(ColumnSums);
        var d = Check.Usable(op, input, "input");
        Check.Usable(op, output, "output", d);
        Check.Rank(op, input, "input", 2);
        if (output.Length != input.Shape[1])
            throw new ShapeMismatchException($"{op}: input {input.Shape} and output {output.Shape}: {input.Shape[1]} != {output.Length}.");
        Check.NoOverlap(op, output, "output", input, "input");
        int columns = input.Shape[1];
        if (columns == 0)
            return;
        if (d.IsHost)
        {
            d.BeginHostOp();
            Host.HostOps.ColumnSums(input.HostSpan, output.HostSpan, input.Shape[0], columns, accumulate);
            return;
        }

        int groupSize = d.Geometry.ReductionGroupSize;
        int groups = Math.Min(columns, d.Geometry.MaxReductionGroups);
        d.Kernels.ColumnSums(d.Stream, new KernelConfig(groups, groupSize), input.View, output.View, input.Shape[0], columns, accumulate ? 1 : 0);
    }

    private static void MatMulCore(
        string op, string lhsRole, string rhsRole, Tensor a, Tensor b, Tensor c, bool transposeA, bool transposeB, Tensor? bias, bool accumulate,
        MatMulAlgorithm algorithm)
    {
        var d = Check.Usable(op, a, lhsRole);
        Check.Usable(op, b, rhsRole, d);
        Check.Usable(op, c, "output", d);
        Check.Rank(op, a, lhsRole, 2);
        Check.Rank(op, b, rhsRole, 2);
        Check.Rank(op, c, "output", 2);
        int m = transposeA ? a.Shape[1] : a.Shape[0];
        int k = transposeA ? a.Shape[0] : a.Shape[1];
        int kb = transposeB ? b.Shape[1] : b.Shape[0];
        int n = transposeB ? b.Shape[0] : b.Shape[1];
        // Built only for an error message: this runs on every launch.
        string Operands() => $"{lhsRole} {a.Shape}{(transposeA ? "^T" : "")} and {rhsRole} {b.Shape}{(transposeB ? "^T" : "")}";
        if (k != kb)
            throw new ShapeMismatchException($"{op}: {Operands()}: {k} != {kb}");
        if (c.Shape[0] != m || c.Shape[1] != n)
            throw new ShapeMismatchException($"{op}: {Operands()} give ({m}, {n}) but output is {c.Shape}");
        if (bias is not null)
        {
            Check.Usable(op, bias, "bias", d);
            if (bias.Length != n || bias.Rank > 1 && bias.Shape[0] != 1)
                throw new ShapeMismatchException($"{op}: bias {bias.Shape} does not match the {n} output columns of {Operands()}");
            Check.NoOverlap(op, c, "output", bias, "bias");
        }

        Check.NoOverlap(op, c, "output", a, lhsRole);
        Check.NoOverlap(op, c, "output", b, rhsRole);
        if (m == 0 || n == 0)
            return;

        var shape = MatMulShape.Create(m, n, k, transposeA, transposeB, bias is not null, accumulate);
        var biasView = bias is null ? c.View : bias.View; // never read without HasBias
        var resolved = Resolve(op, d, algorithm);
        if (resolved == MatMulAlgorithm.CuBlas && bias is not null && accumulate)
            resolved = MatMulAlgorithm.Tiled; // cuBLAS has no bias epilogue to add on top of an accumulated C
        switch (resolved)
        {
            case MatMulAlgorithm.Host:
                d.BeginHostOp();
                unsafe
                {
                    Host.HostMatMul.Run(a.HostPointer, b.HostPointer, c.HostPointer, bias is null ? null : bias.HostPointer, shape);
                }

                break;
            case MatMulAlgorithm.RowBlocked:
                int threads = (int)Math.Min(d.Geometry.MaxThreads, (m + MatMulKernels.RowBlock - 1) / MatMulKernels.RowBlock);
                d.Kernels.MatMulRowBlocked(d.Stream, threads, a.View, b.View, c.View, biasView, shape, threads);
                break;
            case MatMulAlgorithm.Tiled:
                var grid = new Index2D((n + MatMulKernels.Tile - 1) / MatMulKernels.Tile, (m + MatMulKernels.Tile - 1) / MatMulKernels.Tile);
                var group = new Index2D(MatMulKernels.GroupSide, MatMulKernels.GroupSide);
                d.Kernels.MatMulTiled(d.Stream, new KernelConfig(grid, group), a.View, b.View, c.View, biasView, shape);
                break;
            default:
                // cuBLAS has no bias epilogue: seed C with the bias rows, then C = A B + 1 C.
                float beta = accumulate ? 1f : 0f;
                if (bias is not null)
                {
                    int count = c.Length;
                    int broadcastThreads = d.Geometry.Threads(count);
                    d.Kernels.BroadcastRows(d.Stream, broadcastThreads, bias.View, c.View, n, count, broadcastThreads);
                    beta = 1f;
                }

                d.CuBlas!.Gemm(a.View, b.View, c.View, m, n, k, transposeA, transposeB, beta);
                d.CountLaunch();
                break;
        }
    }

    private static MatMulAlgorithm Resolve(string op, Device d, MatMulAlgorithm requested)
    {
        var algorithm = requested == MatMulAlgorithm.Auto ? d.MatMulAlgorithm : requested;
        switch (algorithm)
        {
            case MatMulAlgorithm.Auto:
                if (d.IsHost)
                    return MatMulAlgorithm.Host;
                if (d.Kind == DeviceKind.Cuda && d.CuBlas is not null)
                    return MatMulAlgorithm.CuBlas;
                return d.CpuProfile == CpuProfile.Fast || !d.Geometry.SupportsTiledMatMul ? MatMulAlgorithm.RowBlocked : MatMulAlgorithm.Tiled;
            case MatMulAlgorithm.Tiled when !d.Geometry.SupportsTiledMatMul:
                throw new InvalidOperationException($"{op}: the tiled kernel needs groups of 256 threads but {d.Info.Name} allows {d.Info.MaxGroupSize}.");
            case MatMulAlgorithm.Host when d.Kind != DeviceKind.Cpu:
                throw new InvalidOperationException($"{op}: the host path runs on CPU devices only, not on {d.Info.Name}.");
            case MatMulAlgorithm.CuBlas when d.CuBlas is null:
                throw new InvalidOperationException($"{op}: cuBLAS is not available on {d.Info.Name}: {d.CuBlasProblem ?? "not a CUDA device"}.");
            default:
                return algorithm;
        }
    }
}
