namespace Gpu.Runtime.Backends.Host;

/// <summary>A host op over the items [start, start + count): the elements of a tensor, or the planes of a pooling.</summary>
internal interface IRangeOp
{
    void Run(int start, int count);
}

/// <summary>
/// Runs a host op whose items are each computed alone, in one piece or in one contiguous piece per
/// core. The split changes no result: every item is computed by the same code whatever the piece.
/// </summary>
internal static class HostRanges
{
    /// <summary>
    /// Runs <paramref name="op"/> over [0, <paramref name="count"/>): in one piece unless
    /// <paramref name="large"/> (the caller's measured threshold), else one piece per core, each
    /// starting at a multiple of <paramref name="alignment"/>.
    /// </summary>
    public static void For<TOp>(int count, bool large, int alignment, TOp op)
        where TOp : struct, IRangeOp
    {
        if (!large || HostThreads.Count == 1 || count < 2)
            op.Run(0, count);
        else
            Split(count, alignment, op);
    }

    // Apart from For, so that the sequential path allocates nothing (the lambda's closure is made here).
    private static void Split<TOp>(int count, int alignment, TOp op)
        where TOp : struct, IRangeOp
    {
        int pieces = HostThreads.Count;
        HostThreads.For(pieces, piece =>
        {
            int start = Boundary(piece, pieces, count, alignment), end = Boundary(piece + 1, pieces, count, alignment);
            if (end > start)
                op.Run(start, end - start);
        });
    }

    private static int Boundary(int piece, int pieces, int count, int alignment) =>
        piece == pieces ? count : (int)((long)piece * count / pieces / alignment * alignment);
}
