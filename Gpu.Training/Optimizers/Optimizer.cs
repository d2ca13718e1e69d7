using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// An optimizer over a model's flat parameter buffer (torch.optim vocabulary): <see cref="ZeroGrad"/>
/// clears the gradients with one memset and <see cref="Step"/> updates every parameter in one fused
/// launch. State (moments, momentum buffers) is flat too and is saved in training checkpoints.
/// </summary>
public abstract class Optimizer : IDisposable
{
    protected Optimizer(ParameterCollection parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters;
    }

    public ParameterCollection Parameters { get; }

    /// <summary>Steps taken so far (PyTorch's per-parameter <c>step</c>).</summary>
    public long StepCount { get; protected set; }

    /// <summary>Short name: adam, adamw or sgd.</summary>
    public abstract string Name { get; }

    /// <summary>Learning rate.</summary>
    public abstract double LearningRate { get; }

    /// <summary>L1 strength whose gradient is fused into the step (0 when off).</summary>
    public abstract double L1 { get; }

    /// <summary>L2 strength whose gradient is fused into the step (0 when off).</summary>
    public abstract double L2 { get; }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad() => Parameters.ZeroGrad();

    /// <summary>Applies one update from the current gradients.</summary>
    public abstract void Step();

    /// <summary>The options record, for checkpoints and reports.</summary>
    public abstract object Options { get; }

    /// <summary>Flat state tensors by name (e.g. exp_avg), aligned with the flat parameters.</summary>
    internal abstract IReadOnlyList<(string Name, Tensor Tensor)> State { get; }

    /// <summary>Restores the step count after loading <see cref="State"/> from a checkpoint.</summary>
    internal void RestoreStepCount(long steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        StepCount = steps;
    }

    /// <summary>Builds an optimizer from the CLI's name and values.</summary>
    public static Optimizer Create(string name, ParameterCollection parameters, double lr, double? weightDecay = null, double momentum = 0, double l1 = 0, double l2 = 0) =>
        name.ToLowerInvariant() switch
        {
            "adam" => new Adam(parameters, new AdamOptions(Lr: lr, WeightDecay: weightDecay ?? 0, L1: l1, L2: l2)),
            "adamw" => new AdamW(parameters, new AdamWOptions(Lr: lr, WeightDecay: weightDecay ?? 0.01, L1: l1, L2: l2)),
            "sgd" => new SGD(parameters, new SGDOptions(Lr: lr, Momentum: momentum, WeightDecay: weightDecay ?? 0, L1: l1, L2: l2)),
            _ => throw new ArgumentException($"Unknown optimizer '{name}': use adam, adamw or sgd.", nameof(name)),
        };

    public virtual void Dispose()
    {
        foreach (var (_, tensor) in State)
            tensor.Dispose();
        GC.SuppressFinalize(this);
    }

    protected Tensor NewState(string name) => Parameters.Device.Zeros(new TensorShape(Parameters.ElementCount), name);
}
