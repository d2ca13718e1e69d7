namespace Gpu.Training;

/// <summary>
/// How one epoch's rows become batches and optimizer steps, for this rank: batch b holds rows
/// [b B, b B + B) of the epoch's order (the last may be shorter); optimizer step s takes batches
/// [s K, s K + K) (the epoch's last step may take fewer); each rank reads its contiguous share of
/// every batch. A batch's loss gradient is weighted by this rank's rows of it over the step's rows
/// (for a 'mean' loss), so the step's gradient, summed over batches and ranks, is the gradient of
/// the step's mean loss: K batches of B rows step exactly as one batch of K B rows. Made once per
/// <see cref="Trainer.Fit"/>, so a step allocates nothing.
/// </summary>
internal sealed class StepPlan
{
    private readonly BatchPlan[] batches;
    private readonly int[] stepRows;
    private readonly int accumulate;

    public StepPlan(int rows, int batchSize, int accumulate, int rank, int ranks)
    {
        Rows = rows;
        BatchRows = batchSize == 0 || batchSize >= rows ? rows : batchSize;
        this.accumulate = accumulate;
        Batches = (rows + BatchRows - 1) / BatchRows;
        Steps = (Batches + accumulate - 1) / accumulate;
        LargestShare = Share(BatchRows, 0, ranks).Count;
        batches = new BatchPlan[Batches];
        stepRows = new int[Steps];
        var reads = new List<(int Offset, int Count)>(Batches);
        for (int s = 0; s < Steps; s++)
        {
            int stepStart = FirstBatch(s) * BatchRows;
            for (int b = FirstBatch(s); b < FirstBatch(s + 1); b++)
                stepRows[s] += Math.Min(BatchRows, rows - b * BatchRows);
            for (int b = FirstBatch(s); b < FirstBatch(s + 1); b++)
            {
                int start = b * BatchRows, batchRows = Math.Min(BatchRows, rows - start);
                var (offset, count) = Share(batchRows, rank, ranks);
                batches[b] = new BatchPlan(start + offset, count, start - stepStart + offset, (float)count / stepRows[s]);
                if (count > 0)
                    reads.Add((start + offset, count));
            }
        }

        Reads = reads;
    }

    /// <summary>The epoch's rows.</summary>
    public int Rows { get; }

    /// <summary>Rows per batch (the last batch may hold fewer).</summary>
    public int BatchRows { get; }

    /// <summary>Batches per epoch.</summary>
    public int Batches { get; }

    /// <summary>Optimizer steps per epoch.</summary>
    public int Steps { get; }

    /// <summary>The most rows any rank reads of one batch.</summary>
    public int LargestShare { get; }

    /// <summary>The row ranges this rank reads, batch by batch (batches it has no rows of left out).</summary>
    public IReadOnlyList<(int Offset, int Count)> Reads { get; }

    /// <summary>Batch <paramref name="index"/> of the epoch as this rank sees it.</summary>
    public BatchPlan Batch(int index) => batches[index];

    /// <summary>The first batch of optimizer step <paramref name="step"/> (<see cref="Batches"/> past the last step).</summary>
    public int FirstBatch(int step) => Math.Min(step * accumulate, Batches);

    /// <summary>Rows of all ranks in optimizer step <paramref name="step"/>.</summary>
    public int StepRows(int step) => stepRows[step];

    /// <summary>Rank <paramref name="rank"/>'s contiguous share of <paramref name="rows"/> rows split over <paramref name="ranks"/> ranks: the first rows % ranks ranks take one more.</summary>
    public static (int Offset, int Count) Share(int rows, int rank, int ranks)
    {
        int size = rows / ranks, extra = rows % ranks;
        return (rank * size + Math.Min(rank, extra), size + (rank < extra ? 1 : 0));
    }
}

/// <summary>This rank's part of one batch.</summary>
/// <param name="Offset">Its first row in the epoch's order.</param>
/// <param name="Count">Its rows (0 when the batch has too few rows for every rank).</param>
/// <param name="RowInStep">Its first row's index among the optimizer step's rows (where random layers draw).</param>
/// <param name="Weight">Its rows over the step's rows: the weight of its 'mean' loss gradient.</param>
internal readonly record struct BatchPlan(int Offset, int Count, int RowInStep, float Weight);
