using Gpu.Kernels;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime.Backends.Kernels;

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
            result.Gemm(a.View, b.View, c.View, MatMulShape.Create(1, 1, 1, false, false, false, false), 0f);
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

    /// <summary>The arguments of the swapped column-major call for a row-major product.</summary>
    internal readonly record struct GemmArguments(
        CuBlasOperation OpFirst, CuBlasOperation OpSecond, int M, int N, int K, int LdFirst, int LdSecond, int LdC);

    /// <summary>
    /// cublasSgemm's arguments for <c>C (m, n) = op(A) op(B)</c> row-major: A and B swapped, m and n
    /// swapped. Leading dimensions are the stored row lengths, at least 1 as cuBLAS requires even
    /// when K = 0 (then C = beta C: the bias, or the old C).
    /// </summary>
    internal static GemmArguments Arguments(MatMulShape s)
    {
        var opA = s.TransposeA != 0 ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
        var opB = s.TransposeB != 0 ? CuBlasOperation.Transpose : CuBlasOperation.NonTranspose;
        int lda = Math.Max(1, s.TransposeA != 0 ? s.M : s.K);
        int ldb = Math.Max(1, s.TransposeB != 0 ? s.K : s.N);
        return new GemmArguments(opB, opA, s.N, s.M, s.K, ldb, lda, Math.Max(1, s.N));
    }

    /// <summary>C = op(A) op(B) + beta C, all row-major, shaped by <paramref name="s"/>.</summary>
    public void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, MatMulShape s, float beta)
    {
        var g = Arguments(s);
        blas.Gemm(g.OpFirst, g.OpSecond, g.M, g.N, g.K, 1f, b, g.LdFirst, a, g.LdSecond, beta, c, g.LdC);
    }

    public void Dispose() => blas.Dispose();
}
