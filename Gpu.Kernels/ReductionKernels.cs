using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// Deterministic sums. No float atomics: every sum is taken in an order fixed by the launch geometry
/// (group size and group count, which the runtime derives from the accelerator), so the same inputs
/// give bit-identical results run after run on the same device.
/// <list type="bullet">
/// <item><see cref="PartialSums{TTerm}"/> then <see cref="FinalSum"/>: a two-stage reduction of
/// <c>sum_i term(i)</c> to one scalar that stays on the device (loss 'mean' and 'sum').</item>
/// <item><see cref="Terms{TTerm}"/>: the unreduced terms (loss 'none').</item>
/// <item><see cref="ColumnSums"/>: sums over rows per column (the bias gradient, <c>db = sum_rows dY</c>).</item>
/// </list>
/// Group sizes must be powers of two, at most <see cref="MaxGroupSize"/>.
/// </summary>
public static class ReductionKernels
{
    /// <summary>Largest group size the reductions accept (size of their shared buffer).</summary>
    public const int MaxGroupSize = 256;

    /// <summary>
    /// Stage one: group g writes <c>partials[g] = sum of term(i)</c> over the items
    /// i = g * groupSize + t + j * (groups * groupSize), reduced inside the group by a shared-memory tree.
    /// </summary>
    [Kernel(KernelGrouping.Explicit)]
    public static void PartialSums<TTerm>(
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> partials, TTerm term, int n, int width)
        where TTerm : struct, IReductionTerm
    {
        int groupSize = Group.DimX;
        int stride = Grid.DimX * groupSize;
        float sum = 0f;
        for (int i = Grid.IdxX * groupSize + Group.IdxX; i < n; i += stride)
            sum += term.Compute(i, a, b, width);
        float total = GroupSum(sum);
        if (Group.IsFirstThread)
            partials[Grid.IdxX] = total;
    }

    /// <summary>Stage two, one group: <c>output[0] = scale * sum(partials[0 .. count))</c>.</summary>
    [Kernel(KernelGrouping.Explicit)]
    public static void FinalSum(ArrayView<float> partials, ArrayView<float> output, int count, float scale)
    {
        int groupSize = Group.DimX;
        float sum = 0f;
        for (int i = Group.IdxX; i < count; i += groupSize)
            sum += partials[i];
        float total = GroupSum(sum);
        if (Group.IsFirstThread)
            output[0] = scale * total;
    }

    /// <summary>Unreduced terms: <c>output[i] = term(i)</c> for i in [0, n).</summary>
    [Kernel]
    public static void Terms<TTerm>(
        Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> output, TTerm term, int n, int width, int stride)
        where TTerm : struct, IReductionTerm
    {
        for (int i = index; i < n; i += stride)
            output[i] = term.Compute(i, a, b, width);
    }

    /// <summary>
    /// Column sums of a row-major (rows, columns) matrix:
    /// <c>output[j] = (accumulate ? output[j] : 0) + sum_r x[r, j]</c>. Launch with 2-D groups of
    /// (lanes, phases) threads and ceil(columns / lanes) groups on X: lane l of group g owns column
    /// g lanes + l, so neighbouring threads read neighbouring addresses (coalesced), and the
    /// `phases` threads of a column take every phases-th row; the first then adds the phases' sums
    /// in order, so the result is deterministic. lanes x phases is at most <see cref="MaxGroupSize"/>.
    /// </summary>
    [Kernel(KernelGrouping.Explicit)]
    public static void ColumnSums(ArrayView<float> x, ArrayView<float> output, int rows, int columns, int accumulate)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int lanes = Group.DimX;
        int phases = Group.DimY;
        int lane = Group.IdxX;
        int phase = Group.IdxY;
        int column = Grid.IdxX * lanes + lane;
        float sum = 0f;
        if (column < columns)
        {
            for (int r = phase; r < rows; r += phases)
                sum += x[r * columns + column];
        }

        shared[phase * lanes + lane] = sum;
        Group.Barrier();
        if (phase == 0 && column < columns)
        {
            float total = 0f;
            for (int p = 0; p < phases; p++)
                total += shared[p * lanes + lane];
            output[column] = accumulate != 0 ? output[column] + total : total;
        }
    }

    // Tree reduction over the group in shared memory; the result is valid in the first thread.
    private static float GroupSum(float value)
    {
        var shared = SharedMemory.Allocate<float>(MaxGroupSize);
        int thread = Group.IdxX;
        shared[thread] = value;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (thread < half)
                shared[thread] += shared[thread + half];
            Group.Barrier();
        }

        return shared[0];
    }
}
