using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// How a training or evaluation set reaches the device, batch by batch. Either the whole set is
/// copied to the device once and batches are views or device gathers of it (<see cref="OnDevice"/>),
/// or the set stays in host memory and each batch's rows are copied over as the step needs them
/// (<see cref="OnHost"/>): for data larger than the device's memory, and on the CPU, whose device
/// memory is host memory, so that a copy would only double it. Both give the same batches, so the
/// numbers do not depend on where the data lives. A pass names its batches up front
/// (<see cref="Start"/>), so that the host feed can copy the next batch while the device computes
/// on this one. Every per-step view is made once.
/// </summary>
internal abstract class DataFeed : IDisposable
{
    /// <summary>
    /// Starts a pass over <paramref name="batches"/> in turn, each the rows [Offset, Offset + Count)
    /// of <paramref name="permutation"/> (null: of the set's own order); none may be empty.
    /// </summary>
    public abstract void Start(int[]? permutation, IReadOnlyList<(int Offset, int Count)> batches);

    /// <summary>The pass's next batch; valid until the following call, one view per size made once.</summary>
    public abstract (Tensor X, Tensor Y) Next();

    public abstract void Dispose();

    /// <summary>
    /// A feed for <paramref name="data"/> whose batches hold at most <paramref name="batchRows"/>
    /// rows; <paramref name="shuffled"/> when passes may follow a permutation. Only a table of floats
    /// lives on the device (<paramref name="onDevice"/>); token windows are always cut on the host.
    /// </summary>
    public static DataFeed Create(Device device, TrainingSet data, TensorShape sample, int batchRows, bool shuffled, bool onDevice) =>
        onDevice && data is Dataset table ? new OnDevice(device, table, sample, batchRows, shuffled) : new OnHost(device, data, sample, batchRows);

    private static TensorShape Shape(int rows, TensorShape sample) => new([rows, .. sample.ToArray()]);

    /// <summary>The pass's batches and how far it has got, shared by both feeds.</summary>
    private IReadOnlyList<(int Offset, int Count)> pass = [];
    private int nextBatch;

    private protected void Begin(IReadOnlyList<(int Offset, int Count)> batches)
    {
        for (int b = 0; b < batches.Count; b++)
        {
            if (batches[b].Count <= 0)
                throw new ArgumentException($"A pass's batches must each hold one row or more; batch {b} holds {batches[b].Count}.", nameof(batches));
        }

        pass = batches;
        nextBatch = 0;
    }

    /// <summary>The index of the pass's next batch, advancing past it.</summary>
    private protected int Advance() =>
        nextBatch < pass.Count ? nextBatch++ : throw new InvalidOperationException($"The pass has {pass.Count} batches, all taken.");

    private protected (int Offset, int Count) BatchAt(int index) => pass[index];

    private protected int BatchCount => pass.Count;

    /// <summary>The whole set on the device: batches are row views, or gathered on the device in the epoch's order.</summary>
    private sealed class OnDevice : DataFeed
    {
        private readonly Tensor x;
        private readonly Tensor y;
        private readonly Tensor? xBatch;
        private readonly Tensor? yBatch;
        private readonly IndexBuffer? order;
        private readonly Dictionary<(int, int), (Tensor, Tensor)> views = [];
        private bool ordered;

        public OnDevice(Device device, Dataset data, TensorShape sample, int batchRows, bool shuffled)
        {
            x = device.Zeros(Shape(data.Count, sample), null);
            x.CopyFrom(data.FeatureRows);
            y = device.FromArray(data.TargetRows, data.Count, data.TargetCount);
            if (shuffled)
            {
                xBatch = device.Zeros(Shape(batchRows, sample), null);
                yBatch = device.Zeros(batchRows, data.TargetCount);
                order = device.Indices(new int[data.Count]);
            }
        }

        public override void Start(int[]? permutation, IReadOnlyList<(int Offset, int Count)> batches)
        {
            Begin(batches);
            ordered = permutation is not null;
            if (permutation is not null)
                order!.CopyFrom(permutation);
        }

        public override (Tensor X, Tensor Y) Next()
        {
            var (offset, count) = BatchAt(Advance());
            if (!ordered)
            {
                if (!views.TryGetValue((offset, count), out var rows))
                    views[(offset, count)] = rows = (x.Rows(offset, count), y.Rows(offset, count));
                return rows;
            }

            if (!views.TryGetValue((-1, count), out var gathered))
                views[(-1, count)] = gathered = count == xBatch!.Shape[0] ? (xBatch, yBatch!) : (xBatch.Rows(0, count), yBatch!.Rows(0, count));
            Ops.GatherRows(x, order!, offset, gathered.Item1);
            Ops.GatherRows(y, order!, offset, gathered.Item2);
            return gathered;
        }

        public override void Dispose()
        {
            order?.Dispose();
            yBatch?.Dispose();
            xBatch?.Dispose();
            y.Dispose();
            x.Dispose();
        }
    }

    /// <summary>
    /// The set in host memory: each batch's rows are gathered into a slot of an upload ring and
    /// copied to the device; while the device computes on one batch the next is gathered and sent
    /// (on a GPU, over a copy stream from page-locked memory), so the copy overlaps the step.
    /// </summary>
    private sealed class OnHost : DataFeed
    {
        // The batch in use, the next one arriving, and the one whose computation may still run.
        private const int Slots = 3;
        private readonly TrainingSet data;
        private readonly UploadRing ring;
        private readonly Dictionary<(int Slot, int Count), (Tensor, Tensor)> views = [];
        private int[]? permutation;
        private int turn; // slots are used in turn across passes: the next batch's is turn % Slots

        public OnHost(Device device, TrainingSet data, TensorShape sample, int batchRows)
        {
            this.data = data;
            ring = new UploadRing(device, Slots, Shape(batchRows, sample), new TensorShape(batchRows, data.TargetCount));
        }

        public override void Start(int[]? permutation, IReadOnlyList<(int Offset, int Count)> batches)
        {
            // A pass left unfinished may hold a slot in use and one arriving: settle both.
            ReleaseInUse();
            if (ring.IsSent(turn % Slots))
            {
                ring.Receive(turn % Slots);
                turn++;
                ReleaseInUse();
            }

            Begin(batches);
            this.permutation = permutation;
        }

        public override (Tensor X, Tensor Y) Next()
        {
            int index = Advance();
            ReleaseInUse();
            int slot = turn % Slots;
            if (!ring.IsSent(slot))
                Send(slot, index);
            ring.Receive(slot);
            turn++;

            // Gather and send the next batch now: on a GPU its copy runs while this step computes.
            if (index + 1 < BatchCount)
                Send(turn % Slots, index + 1);

            int count = BatchAt(index).Count;
            if (!views.TryGetValue((slot, count), out var view))
            {
                Tensor xs = ring.Tensor(slot, 0), ys = ring.Tensor(slot, 1);
                views[(slot, count)] = view = count == ring.Rows ? (xs, ys) : (xs.Rows(0, count), ys.Rows(0, count));
            }

            return view;
        }

        public override void Dispose() => ring.Dispose();

        // The slot of the batch last returned, whose computation is queued by now.
        private void ReleaseInUse()
        {
            int last = (turn + Slots - 1) % Slots;
            if (ring.IsReceived(last))
                ring.Release(last);
        }

        // Writes batch `index`'s rows into the slot's staging and starts their copy.
        private void Send(int slot, int index)
        {
            var (offset, count) = BatchAt(index);
            data.CopyRows(offset, count, permutation, ring.Staging(slot, 0), ring.Staging(slot, 1));
            ring.Send(slot, count);
        }
    }
}
