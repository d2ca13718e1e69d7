using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Gpu.Runtime.Backends.Host;

/// <summary>Transposes on the host: the GEMM's packing of B and A, a convolution's (positions, channels) results into NCHW.</summary>
internal static unsafe class HostTranspose
{
    /// <summary>
    /// target[c * targetStride + r] = source[r * sourceStride + c] for r &lt; rows, c &lt; columns: 8 x 8
    /// blocks in registers where AVX has them, single floats at the edges.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Matrix(float* source, int rows, int columns, long sourceStride, float* target, long targetStride)
    {
        int wholeRows = Avx.IsSupported ? rows / 8 * 8 : 0, wholeColumns = Avx.IsSupported ? columns / 8 * 8 : 0;
        // Eight rows of the target at a time, each written from start to end (the order made no
        // difference: a convolution's output is written at the memory's speed either way).
        for (int c = 0; c < wholeColumns; c += 8)
        {
            for (int r = 0; r < wholeRows; r += 8)
                Block8x8(source + r * sourceStride + c, sourceStride, target + c * targetStride + r, targetStride);
        }

        for (int c = wholeColumns; c < columns; c++)
        {
            for (int r = 0; r < wholeRows; r++)
                target[c * targetStride + r] = source[r * sourceStride + c];
        }

        for (int c = 0; c < columns; c++)
        {
            for (int r = wholeRows; r < rows; r++)
                target[c * targetStride + r] = source[r * sourceStride + c];
        }
    }

    /// <summary>
    /// target[c * targetStride + r] = source[r * sourceStride + c] for an 8 x 8 block (AVX): the usual
    /// unpack / shuffle / lane-permute sequence. Inlined: as a call it left its eight rows' loads and
    /// stores behind a call in each of the GEMM's packing loops.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block8x8(float* source, long sourceStride, float* target, long targetStride)
    {
        var r0 = Avx.LoadVector256(source);
        var r1 = Avx.LoadVector256(source + sourceStride);
        var r2 = Avx.LoadVector256(source + 2 * sourceStride);
        var r3 = Avx.LoadVector256(source + 3 * sourceStride);
        var r4 = Avx.LoadVector256(source + 4 * sourceStride);
        var r5 = Avx.LoadVector256(source + 5 * sourceStride);
        var r6 = Avx.LoadVector256(source + 6 * sourceStride);
        var r7 = Avx.LoadVector256(source + 7 * sourceStride);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44);
        var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44);
        var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44);
        var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44);
        var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(target, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(target + targetStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(target + 2 * targetStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(target + 3 * targetStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(target + 4 * targetStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(target + 5 * targetStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(target + 6 * targetStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(target + 7 * targetStride, Avx.Permute2x128(s3, s7, 0x31));
    }
}
