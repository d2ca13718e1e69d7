using Gpu.Kernels;

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
        MatMulCore(nameof(MatMul), "lhs", "rhs", a, b, c, transposeA, transposeB, bias, accumulate, algorithm, relu: false);

    /// <summary>
    /// The forward of torch.nn.Linear: <c>output = input weight^T + bias</c> with input (B, in),
    /// weight (out, in), bias (out) or null, output (B, out). With <paramref name="relu"/>, the
    /// output is torch.relu's of that (max with 0, NaN kept): a Linear followed by a ReLU in one op.
    /// </summary>
    public static void Linear(Tensor input, Tensor weight, Tensor? bias, Tensor output, bool relu = false) =>
        MatMulCore(nameof(Linear), "input", "weight", input, weight, output, false, true, bias, false, MatMulAlgorithm.Auto, relu);

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
        if (columns > 0)
            d.Dispatch().ColumnSums(input, output, input.Shape[0], columns, accumulate);
    }

    private static void MatMulCore(
        string op, string lhsRole, string rhsRole, Tensor a, Tensor b, Tensor c, bool transposeA, bool transposeB, Tensor? bias, bool accumulate,
        MatMulAlgorithm algorithm, bool relu)
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
        d.Dispatch().MatMul(op, a, b, c, bias, shape, algorithm, relu);
    }
}
