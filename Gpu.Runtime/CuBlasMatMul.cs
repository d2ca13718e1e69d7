using ILGPU;
using ILGPU.Runtime;
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

    /// <summary>
    /// Loads cuBLAS and proves it works with a 1x1 product, so that a missing or broken library is
    /// found here (and our tiled kernel used instead) rather than in the middle of training.
    /// </summary>
    public static CuBlasMatMul? TryCreate(CudaAccelerator accelerator, out string? problem)
    {
        CuBlas? blas = null;
        try
        {
            blas = new CuBlas(accelerator) { Stream = (CudaStream)accelerator.DefaultStream };
            var result = new CuBlasMatMul(blas);
            using var a = accelerator.Allocate1D<float>(1);
            using var b = accelerator.Allocate1D<float>(1);
            using var c = accelerator.Allocate1D<float>(1);
            a.View.CopyFromCPU(new[] { 2f });
            b.View.CopyFromCPU(new[] { 3f });
            result.Gemm(a.View, b.View, c.View, 1, 1, 1, false, false, 0f);
            accelerator.Synchronize();
            var host = new float[1];
            c.View.CopyToCPU(host);
            float product = host[0];
            if (product != 6f)
                throw new InvalidOperationException($"a 1x1 test product gave {product}, expected 6");
            problem = null;
            return result;
        }
        catch (Exception e)
        {
            blas?.Dispose();
            problem = $"cuBLAS is not usable: {e.Message}";
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
