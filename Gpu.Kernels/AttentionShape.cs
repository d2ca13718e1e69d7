namespace Gpu.Kernels;

/// <summary>
/// The scalars of one multi-head self-attention call over <c>qkv</c> (N, T, 3D), whose last axis holds
/// q, then k, then v, each split into <see cref="Heads"/> heads of <see cref="HeadDim"/> columns
/// (PyTorch's <c>view(N, T, H, D/H).transpose(1, 2)</c>, read in place).
/// </summary>
public struct AttentionShape
{
    /// <summary>Samples N.</summary>
    public int Batch;

    /// <summary>Sequence length T.</summary>
    public int Steps;

    /// <summary>Model width D = Heads x HeadDim.</summary>
    public int Width;

    public int Heads;

    public int HeadDim;

    /// <summary>1 / sqrt(HeadDim).</summary>
    public float Scale;

    /// <summary>1: key j is seen by query i only when j &lt;= i.</summary>
    public int Causal;

    /// <summary>Dropout on the attention weights: drop when the 24 random bits are below this (0: no dropout).</summary>
    public int DropThreshold;

    /// <summary>1 / (1 - p): what a kept weight is multiplied by.</summary>
    public float KeepScale;

    public ulong Seed;

    public long Step;

    /// <summary>The first sample's index in the whole batch (ranks and accumulation draw what one process would).</summary>
    public long FirstRow;

    public static AttentionShape Create(int batch, int steps, int width, int heads, bool causal) => new()
    {
        Batch = batch,
        Steps = steps,
        Width = width,
        Heads = heads,
        HeadDim = width / heads,
        Scale = 1f / MathF.Sqrt(width / heads),
        Causal = causal ? 1 : 0,
        KeepScale = 1f,
    };

    /// <summary>Where q (part 0), k (1) or v (2) of head <paramref name="head"/> at step <paramref name="t"/> of sample <paramref name="n"/> starts in qkv.</summary>
    public readonly int Offset(int n, int t, int part, int head) => (n * Steps + t) * 3 * Width + part * Width + head * HeadDim;

    /// <summary>Where the output of head <paramref name="head"/> at (n, t) starts in y (N, T, D).</summary>
    public readonly int OutputOffset(int n, int t, int head) => (n * Steps + t) * Width + head * HeadDim;

    /// <summary>Keys query <paramref name="i"/> sees: i + 1 when causal, else all T.</summary>
    public readonly int KeysSeen(int i) => Causal != 0 ? i + 1 : Steps;

    /// <summary>The dropout multiplier of weight (query i, key j) of head h of sample n: 0 or <see cref="KeepScale"/> (1 without dropout).</summary>
    public readonly float Keep(int n, int head, int i, int j)
    {
        if (DropThreshold == 0)
            return 1f;
        long index = (((FirstRow + n) * Heads + head) * Steps + i) * (long)Steps + j;
        return RandomKernels.Bits24(Seed, Step, index) >= (uint)DropThreshold ? KeepScale : 0f;
    }
}
