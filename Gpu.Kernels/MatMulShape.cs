namespace Gpu.Kernels;

/// <summary>
/// Sizes and strides of <c>C (M, N) = op(A) (M, K) * op(B) (K, N) [+ C] [+ bias]</c>, all row-major.
/// Element (i, k) of op(A) is <c>a[i * ARowStride + k * AColStride]</c>, element (k, j) of op(B) is
/// <c>b[k * BRowStride + j * BColStride]</c>; a transpose only swaps the two strides, so one kernel
/// serves NN, NT (<c>X W^T</c>, Linear forward) and TN (<c>dY^T X</c>, Linear weight gradient).
/// </summary>
public struct MatMulShape
{
    public int M;
    public int N;
    public int K;
    public int ARowStride;
    public int AColStride;
    public int BRowStride;
    public int BColStride;

    /// <summary>1: add <c>bias[j]</c> to every row of C (the Linear epilogue). 0: bias is not read.</summary>
    public int HasBias;

    /// <summary>1: <c>C += op(A) op(B)</c> (gradient accumulation). 0: C is overwritten and never read.</summary>
    public int Accumulate;

    /// <summary>1 when A is stored (K, M) (the TN form); kept for libraries that take a transpose flag (cuBLAS).</summary>
    public int TransposeA;

    /// <summary>1 when B is stored (N, K) (the NT form).</summary>
    public int TransposeB;

    public static MatMulShape Create(int m, int n, int k, bool transposeA, bool transposeB, bool hasBias, bool accumulate) => new()
    {
        M = m,
        N = n,
        K = k,
        // A is stored (M, K), or (K, M) when transposed.
        ARowStride = transposeA ? 1 : k,
        AColStride = transposeA ? m : 1,
        // B is stored (K, N), or (N, K) when transposed.
        BRowStride = transposeB ? 1 : n,
        BColStride = transposeB ? k : 1,
        HasBias = hasBias ? 1 : 0,
        Accumulate = accumulate ? 1 : 0,
        TransposeA = transposeA ? 1 : 0,
        TransposeB = transposeB ? 1 : 0,
    };
}
