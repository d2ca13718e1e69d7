using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime;

/// <summary>
/// cuBLAS SGEMM for row-major operands. cuBLAS is column-major; a row-major (r, c) matrix is the
/// column-major (c, r) matrix of its transpose, so <c>C = op(A) op(B)</c> is computed as the
/// column-major product <c>C^T = op(B)^T op(A)^T</c> with A and B swapped.
/// </summary>
internal sealed class CuBlasMatMul : IDisposable
{
    private readonly CuBlas blas;

    private CuBlasMatMul(CuBlas blas) => this.blas = blas;

    public static CuBlasMatMul? TryCreate(CudaAccelerator accelerator, out string? problem)
    {
        try
        {
            var blas = new CuBlas(accelerator) { Stream = (CudaStream)accelerator.DefaultStream };
            problem = null;
            return new CuBlasMatMul(blas);
        }
        catch (Exception e)
        {
            problem = $"cuBLAS did not load: {e.Message}";
            return null;
        }
    }

    /// <summary>C (m, n) = op(A) op(B) + beta C, all row-major; lda/ldb are the stored row lengths.</summary>
    public void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transposeA, bool transposeB, float beta)
    {
        var opA = transposeA ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
        var opB = transposeB ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
        int lda = transposeA ? m : k;
        int ldb = transposeB ? k : n;
        blas.Gemm(opB, opA, n, m, k, 1f, b, ldb, a, lda, beta, c, n);
    }

    public void Dispose() => blas.Dispose();
}
