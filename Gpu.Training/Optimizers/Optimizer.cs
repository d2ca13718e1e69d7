using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// An optimizer over a model's flat parameter buffer (torch.optim vocabulary): <see cref="ZeroGrad"/>
/// clears the gradients with one memset and <see cref="Step"/> updates every parameter in one fused
/// launch. Its hyperparameters are read at every step, so a schedule may change
/// <see cref="LearningRate"/> (and <see cref="Momentum"/>) between steps, as PyTorch's param_groups
/// are. State (moments, momentum buffers) is flat too, made when first needed, and saved in
/// training checkpoints. Each optimizer is one class with its registry entry (<see cref="OptimizerEntry"/>).
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly List<(string Name, Tensor Tensor)> state = [];
    private double learningRate;

    protected Optimizer(ParameterCollection parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = parameters;
        LearningRate = learningRate;
        BaseLearningRate = learningRate;
    }

    public ParameterCollection Parameters { get; }

    /// <summary>Steps taken so far (PyTorch's per-parameter <c>step</c>).</summary>
    public long StepCount { get; protected set; }

    /// <summary>The name the command line and checkpoints use (its registry entry's).</summary>
    public string Name => Kind.Name;

    /// <summary>This optimizer's registry entry.</summary>
    public OptimizerEntry Kind => Registry<OptimizerEntry>.Of(GetType()) ?? throw new InvalidOperationException($"{GetType().Name} has no OptimizerEntry (implement IRegistered<OptimizerEntry>).");

    /// <summary>The rate the optimizer was made with (its options' lr; PyTorch's initial_lr): what schedules scale.</summary>
    public double BaseLearningRate { get; }

    /// <summary>The learning rate of the next step (param_groups[0]['lr']): finite and &gt;= 0.</summary>
    public double LearningRate
    {
        get => learningRate;
        set
        {
            if (!(double.IsFinite(value) && value >= 0))
                throw new ArgumentOutOfRangeException(nameof(LearningRate), value, $"{GetType().Name}: lr must be a finite number >= 0, got {value}.");
            learningRate = value;
        }
    }

    /// <summary>
    /// What a one-cycle schedule cycles, read at every step: beta1 for Adam and AdamW, momentum for SGD
    /// and RMSprop (as torch's OneCycleLR does); null when the optimizer has no such term.
    /// </summary>
    public virtual double? Momentum
    {
        get => null;
        set => throw new NotSupportedException($"{GetType().Name} has no momentum or beta1 to set.");
    }

    /// <summary>The options record it was made with, for checkpoints and reports.</summary>
    public abstract object Options { get; }

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGrad() => Parameters.ZeroGrad();

    /// <summary>Applies one update from the current gradients, with the current hyperparameters.</summary>
    public abstract void Step();

    /// <summary>Flat state tensors made so far, by PyTorch's state name (e.g. exp_avg), aligned with the flat parameters.</summary>
    internal IReadOnlyList<(string Name, Tensor Tensor)> State => state;

    /// <summary>
    /// Loads a saved state tensor (a checkpoint's <c>optimizer.NAME</c>), making it when this
    /// configuration has not yet; throws for a name this optimizer never keeps.
    /// </summary>
    internal void RestoreState(string name, ReadOnlySpan<float> values)
    {
        if (!KeepsState(name))
            throw new ArgumentException($"{GetType().Name} keeps no state '{name}'.");
        var tensor = StateTensor(name);
        if (values.Length != tensor.Length)
            throw new ArgumentException($"{GetType().Name}: state '{name}' holds {values.Length} values, not {tensor.Length}.");
        tensor.CopyFrom(values);
        Restored(name);
    }

    /// <summary>Restores the step count after loading <see cref="State"/> from a checkpoint.</summary>
    internal void RestoreStepCount(long steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        StepCount = steps;
    }

    public virtual void Dispose()
    {
        foreach (var (_, tensor) in state)
            tensor.Dispose();
        state.Clear();
        GC.SuppressFinalize(this);
    }

    /// <summary>True for every state name this optimizer may keep (PyTorch's names).</summary>
    protected abstract bool KeepsState(string name);

    /// <summary>Called after a state was loaded from a checkpoint (SGD: the momentum buffer is no longer new).</summary>
    protected virtual void Restored(string name)
    {
    }

    /// <summary>The state tensor of that name, made (zeros, as torch.zeros_like) on first use.</summary>
    protected Tensor StateTensor(string name)
    {
        foreach (var (existing, tensor) in state)
        {
            if (existing == name)
                return tensor;
        }

        var made = Parameters.Device.Zeros(new TensorShape(Parameters.ElementCount), name);
        state.Add((name, made));
        return made;
    }

    /// <summary>A momentum factor a schedule sets: finite and &gt;= 0 (SGD's and RMSprop's <see cref="Momentum"/>).</summary>
    protected double CheckedMomentum(double? value)
    {
        double m = value ?? throw new ArgumentNullException(nameof(value), $"{GetType().Name}: momentum cannot be unset.");
        if (!(double.IsFinite(m) && m >= 0))
            throw new ArgumentOutOfRangeException(nameof(Momentum), m, $"{GetType().Name}: momentum must be a finite number >= 0, got {m}.");
        return m;
    }
}

/// <summary>An optimizer's registry entry (<see cref="IRegistered{TEntry}"/>).</summary>
/// <param name="Name">The command line's and checkpoints' name, e.g. "rmsprop".</param>
/// <param name="Description">PyTorch's class, for help texts.</param>
/// <param name="OptionsType">Its options record (what checkpoints save, every field present).</param>
/// <param name="Hyperparameters">The flags it reads besides --lr, each naming the options field it sets.</param>
/// <param name="Options">Its options from --lr and the flags' values.</param>
/// <param name="Create">The optimizer over a model's parameters with options of <paramref name="OptionsType"/>.</param>
public sealed record OptimizerEntry(
    string Name, string Description, Type OptionsType, IReadOnlyList<OptimizerHyperparameter> Hyperparameters,
    Func<double, HyperparameterValues, object> Options, Func<ParameterCollection, object, Optimizer> Create) : RegistryEntry(Name, Description);

/// <summary>A flag an optimizer reads and the field of its options record that the flag sets (compared on resume).</summary>
public sealed record OptimizerHyperparameter(Hyperparameter Parameter, string Field);
