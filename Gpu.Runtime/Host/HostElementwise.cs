namespace Gpu.Runtime.Host;

/// <summary>An elementwise host op over the elements [start, start + count) of its tensors.</summary>
internal interface IElementwiseOp
{
    void Run(int start, int count);
}

/// <summary>
/// Runs elementwise host ops on large tensors over all cores, one contiguous piece per core. Each
/// element is computed alone and the pieces start at multiples of 64 elements, so the vector loops
/// see the same elements as in one piece, and the results do not depend on the number of cores.
/// </summary>
internal static class HostElementwise
{
    // From half a million elements up: ReLU on 2^19 floats ran 1.95x faster on two cores, on 2^18
    // 1.11x, and on 2^17 no faster (the hand-off to the other core costs about as much as it saves).
    private const int ParallelLength = 1 << 19;

    // Piece boundaries: a multiple of every vector width (8 or 16 floats).
    private const int Alignment = 64;

    public static void For<TOp>(int length, TOp op)
        where TOp : struct, IElementwiseOp
    {
        if (HostThreads.Count == 1 || length < ParallelLength)
            op.Run(0, length);
        else
            Split(length, op);
    }

    // Apart from For, so that the sequential path allocates nothing (the lambda's closure is made here).
    private static void Split<TOp>(int length, TOp op)
        where TOp : struct, IElementwiseOp
    {
        int pieces = HostThreads.Count;
        Parallel.For(0, pieces, HostThreads.Options, piece =>
        {
            int start = Boundary(piece, pieces, length), end = Boundary(piece + 1, pieces, length);
            op.Run(start, end - start);
        });
    }

    private static int Boundary(int piece, int pieces, int length) =>
        piece == pieces ? length : (int)((long)piece * length / pieces / Alignment * Alignment);
}
