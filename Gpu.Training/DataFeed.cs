using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// How a training or evaluation set reaches the device, batch by batch. Either the whole set is
/// copied to the device once and batches are views or device gathers of it (<see cref="OnDevice"/>),
/// or the set stays in host memory and each batch's rows are copied over as the step needs them
/// (<see cref="OnHost"/>): for data larger than the device's memory, and on the CPU, whose device
/// memory is host memory, so that a copy would only double it. Both give the same batches, so the
/// numbers do not depend on where the data lives. Every per-step view is made once.
/// </summary>
internal abstract class DataFeed : IDisposable
{
    /// <summary>The batch of rows [offset, offset + count) of the epoch's order (or of the set, unshuffled), one view per size made once.</summary>
    public abstract (Tensor X, Tensor Y) Batch(int offset, int count);

    /// <summary>Sets the epoch's row order (null: the set's own order).</summary>
    public abstract void Order(int[]? permutation);

    public abstract void Dispose();

    /// <summary>Bytes a set takes on the device when copied there whole.</summary>
    public static long Bytes(Dataset data) => 4L * data.Count * (data.FeatureCount + data.TargetCount);

    /// <summary>
    /// A feed for <paramref name="data"/> whose batches hold at most <paramref name="batchRows"/>
    /// rows; <paramref name="shuffled"/> when batches follow an order set per epoch.
    /// </summary>
    public static DataFeed Create(Device device, Dataset data, TensorShape sample, int batchRows, bool shuffled, bool onDevice) =>
        onDevice ? new OnDevice(device, data, sample, batchRows, shuffled) : new OnHost(device, data, sample, batchRows, shuffled);

    private static TensorShape Shape(int rows, TensorShape sample) => new([rows, .. sample.ToArray()]);

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

        public override void Order(int[]? permutation)
        {
            ordered = permutation is not null;
            if (permutation is not null)
                order!.CopyFrom(permutation);
        }

        public override (Tensor X, Tensor Y) Batch(int offset, int count)
        {
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

    /// <summary>The set in host memory: each batch's rows are copied into device batch buffers as the step needs them.</summary>
    private sealed class OnHost : DataFeed
    {
        private readonly Dataset data;
        private readonly Tensor xBatch;
        private readonly Tensor yBatch;
        private readonly float[] xStaging;
        private readonly float[] yStaging;
        private readonly Dictionary<int, (Tensor, Tensor)> views = [];
        private int[]? permutation;

        public OnHost(Device device, Dataset data, TensorShape sample, int batchRows, bool shuffled)
        {
            this.data = data;
            xBatch = device.Zeros(Shape(batchRows, sample), null);
            yBatch = device.Zeros(batchRows, data.TargetCount);
            // Gathered rows are assembled here. Allocated pinned, so the GC never moves them under a
            // copy; they are not page-locked for a GPU driver, which stages the copy (docs/data.md).
            xStaging = shuffled ? GC.AllocateUninitializedArray<float>(batchRows * data.FeatureCount, pinned: true) : [];
            yStaging = shuffled ? GC.AllocateUninitializedArray<float>(batchRows * data.TargetCount, pinned: true) : [];
        }

        public override void Order(int[]? permutation) => this.permutation = permutation;

        public override (Tensor X, Tensor Y) Batch(int offset, int count)
        {
            if (!views.TryGetValue(count, out var view))
                views[count] = view = count == xBatch.Shape[0] ? (xBatch, yBatch) : (xBatch.Rows(0, count), yBatch.Rows(0, count));
            var (xb, yb) = view;
            int f = data.FeatureCount, t = data.TargetCount;
            if (permutation is null)
            {
                // Contiguous rows: straight from the set's arrays.
                xb.CopyFrom(data.Features.AsSpan(offset * f, count * f));
                yb.CopyFrom(data.Targets.AsSpan(offset * t, count * t));
                return view;
            }

            for (int r = 0; r < count; r++)
            {
                int row = permutation[offset + r];
                data.Features.AsSpan(row * f, f).CopyTo(xStaging.AsSpan(r * f, f));
                data.Targets.AsSpan(row * t, t).CopyTo(yStaging.AsSpan(r * t, t));
            }

            xb.CopyFrom(xStaging.AsSpan(0, count * f));
            yb.CopyFrom(yStaging.AsSpan(0, count * t));
            return view;
        }

        public override void Dispose()
        {
            yBatch.Dispose();
            xBatch.Dispose();
        }
    }
}
