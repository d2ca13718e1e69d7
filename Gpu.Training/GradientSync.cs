using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// How the ranks of a training job agree on gradients, losses and starting weights, behind one seam:
/// for one process there is nothing to do (<see cref="Local"/>); under MPI the flat gradient is summed
/// across ranks by the bucketed all-reduce of <see cref="ProcessGroup"/>, host sums likewise, and
/// weights and optimizer state are broadcast from rank 0 once. The trainer calls the same methods either way.
/// </summary>
internal abstract class GradientSync
{
    /// <summary>The seam for a job: <see cref="Local"/> without a group (or a group of one), else the group's collectives.</summary>
    public static GradientSync For(ProcessGroup? group) => group is { WorldSize: > 1 } ? new Collective(group) : Local;

    /// <summary>One process: every method does nothing.</summary>
    public static GradientSync Local { get; } = new Alone();

    public abstract int Rank { get; }

    public abstract int WorldSize { get; }

    /// <summary>Wall time spent in collectives so far.</summary>
    public abstract double CommunicationSeconds { get; }

    /// <summary>Sums the flat gradient across ranks in place (each rank's part already weighted by its share of the step's rows).</summary>
    public abstract void SumGradients(Tensor gradients);

    /// <summary>Sums host values across ranks in place (losses, counts).</summary>
    public abstract void Sum(Span<double> values);

    /// <summary>Rank 0's values on every rank.</summary>
    public abstract void Broadcast(Tensor tensor);

    private sealed class Alone : GradientSync
    {
        public override int Rank => 0;

        public override int WorldSize => 1;

        public override double CommunicationSeconds => 0;

        public override void SumGradients(Tensor gradients)
        {
        }

        public override void Sum(Span<double> values)
        {
        }

        public override void Broadcast(Tensor tensor)
        {
        }
    }

    private sealed class Collective(ProcessGroup group) : GradientSync
    {
        public override int Rank => group.Rank;

        public override int WorldSize => group.WorldSize;

        public override double CommunicationSeconds => group.CommunicationSeconds;

        public override void SumGradients(Tensor gradients) => group.AllReduceSum(gradients);

        public override void Sum(Span<double> values) => group.AllReduceSum(values);

        public override void Broadcast(Tensor tensor) => group.Broadcast(tensor);
    }
}
