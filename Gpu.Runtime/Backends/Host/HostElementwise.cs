namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Elementwise host ops (ReLU, activations, dropout, the fused optimizers) on large tensors over all
/// cores (<see cref="HostRanges"/>). The pieces start at multiples of 64 elements, so the vector
/// loops leave the same elements to their scalar tails as in one piece, and the results do not
/// depend on the number of cores.
/// </summary>
internal static class HostElementwise
{
    // From half a million elements up: ReLU on 2^19 floats ran 1.95x faster on two cores, on 2^18
    // 1.11x, and on 2^17 no faster (the hand-off to the other core costs about as much as it saves).
    private const int ParallelLength = 1 << 19;

    // Piece boundaries: a multiple of every vector width (8 or 16 floats).
    private const int Alignment = 64;

    public static void For<TOp>(int length, TOp op)
        where TOp : struct, IRangeOp =>
        HostRanges.For(length, length >= ParallelLength, Alignment, op);
}
