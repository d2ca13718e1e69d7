using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A layer with a forward pass and the matching backward pass side by side (micrograd style).
/// Forward caches what backward needs; the returned tensors belong to the module and stay valid
/// until its next Forward/Backward. Batches are rows: input (batch, features).
/// </summary>
public abstract class Module : IDisposable
{
    /// <summary>PyTorch's class name, e.g. "Linear".</summary>
    public abstract string TypeName { get; }

    /// <summary>The device the module runs on once its model has been moved there.</summary>
    public Device? Device { get; private set; }

    /// <summary>False for the first layer of a model: the gradient with respect to the data is not needed.</summary>
    internal bool ComputesInputGradient { get; set; } = true;

    /// <summary>output = f(input).</summary>
    public abstract Tensor Forward(Tensor input);

    /// <summary>
    /// Given dLoss/dOutput, accumulates dLoss/dParameters into the parameter gradients and returns
    /// dLoss/dInput (or null when the input gradient is not needed).
    /// </summary>
    public abstract Tensor? Backward(Tensor gradOutput);

    /// <summary>The module's parameters (empty until the model is moved to a device).</summary>
    public IReadOnlyList<Parameter> Parameters() => GetParameters();

    protected virtual IReadOnlyList<Parameter> GetParameters() => [];

    /// <summary>Output features for a given number of input features; throws if they do not fit.</summary>
    public abstract int OutputFeatures(int inputFeatures);

    /// <summary>Parameter names (without the module's prefix) and shapes, in state_dict order.</summary>
    internal virtual IEnumerable<(string Name, TensorShape Shape)> ParameterShapes => [];

    /// <summary>Receives views of the model's flat buffers, in the order of <see cref="ParameterShapes"/>.</summary>
    internal virtual void Bind(Device device, IReadOnlyList<Parameter> parameters) => Device = device;

    /// <summary>Draws initial values on the host with PyTorch's default distribution.</summary>
    internal virtual void ResetParameters(Random random)
    {
    }

    /// <summary>The layer as a record that can rebuild it (saved in checkpoints).</summary>
    internal abstract LayerSpec Spec { get; }

    /// <summary>Multiply-adds x 2 per sample for forward (and backward when training).</summary>
    internal virtual long FlopsPerSample(bool training) => 0;

    protected Device RequireDevice() =>
        Device ?? throw new InvalidOperationException($"{TypeName} is not on a device yet: call model.To(device) first.");

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>A serialisable description of one layer.</summary>
/// <param name="Type">"Linear" or "ReLU".</param>
/// <param name="InFeatures">Linear only.</param>
/// <param name="OutFeatures">Linear only.</param>
/// <param name="Bias">Linear only.</param>
public sealed record LayerSpec(string Type, int InFeatures = 0, int OutFeatures = 0, bool Bias = true)
{
    /// <summary>Rebuilds the layer.</summary>
    public Module Create() => Type switch
    {
        "Linear" => new Linear(InFeatures, OutFeatures, Bias),
        "ReLU" => new ReLU(),
        _ => throw new NotSupportedException($"Unknown layer type '{Type}': supported are Linear and ReLU."),
    };
}
