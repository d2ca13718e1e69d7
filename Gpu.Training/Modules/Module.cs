using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A layer with a forward pass and the matching backward pass side by side (micrograd style).
/// Tensors carry their whole shape, batch first and row-major as in PyTorch: (batch, features) for
/// dense layers, (batch, channels, height, width) for images. Shapes without the batch dimension
/// ("sample shapes") describe what a layer takes and gives (<see cref="OutputShapeFor"/>).
/// Forward caches what backward needs; the returned tensors belong to the module and stay valid
/// until its next Forward/Backward. Modules start in training mode, like PyTorch's.
/// </summary>
public abstract class Module : IDisposable
{
    /// <summary>PyTorch's class name, e.g. "Linear".</summary>
    public abstract string TypeName { get; }

    /// <summary>The device the module runs on once its model has been moved there.</summary>
    public Device? Device { get; private set; }

    /// <summary>True in training mode (the default), false in evaluation mode: what Dropout looks at.</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>False for the first layers of a model: the gradient with respect to the data is not needed.</summary>
    internal virtual bool ComputesInputGradient { get; set; } = true;

    /// <summary>Sets training mode (PyTorch's <c>module.train(mode)</c>).</summary>
    public virtual void Train(bool mode = true) => IsTraining = mode;

    /// <summary>Sets evaluation mode (PyTorch's <c>module.eval()</c>).</summary>
    public void Eval() => Train(false);

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

    /// <summary>
    /// The sample shape this layer gives for a sample shape it is given, or a
    /// <see cref="ShapeMismatchException"/> naming the layer and both shapes when it cannot take it.
    /// </summary>
    public abstract TensorShape OutputShapeFor(TensorShape input);

    /// <summary>The sample shape this layer alone determines (Linear: its input features), or null.</summary>
    public virtual TensorShape? FixedInputShape => null;

    /// <summary>True when the output always has the input's shape (activations, Dropout).</summary>
    public virtual bool PreservesShape => false;

    /// <summary>
    /// False when an output position of a sequence depends on later input positions (attention
    /// with causal=false); every other layer reads a position's past and present only.
    /// </summary>
    public virtual bool IsCausal => true;

    /// <summary>The record that describes and rebuilds this layer (saved in model files).</summary>
    public abstract LayerSpec Spec { get; }

    /// <summary>Parameter names (without the module's prefix) and shapes, in state_dict order.</summary>
    internal virtual IEnumerable<(string Name, TensorShape Shape)> ParameterShapes => [];

    /// <summary>Receives views of the model's flat buffers, in the order of <see cref="ParameterShapes"/>.</summary>
    internal virtual void Bind(Device device, IReadOnlyList<Parameter> parameters) => Device = device;

    /// <summary>Draws initial values on the host with PyTorch's default distribution.</summary>
    internal virtual void ResetParameters(Random random)
    {
    }

    /// <summary>Gives a layer that draws random numbers in training (Dropout) its seed.</summary>
    internal virtual void Seed(ulong seed)
    {
    }

    /// <summary>
    /// Where a random layer's next draw starts: <paramref name="step"/> (the optimizer step) and the
    /// global index of the batch's first row, so that any split of a batch draws what one process would.
    /// </summary>
    internal virtual void MoveRandomTo(long step, long firstRow)
    {
    }

    /// <summary>Floating-point operations per sample of the forward pass (and backward when training), for a given input sample shape.</summary>
    internal virtual long FlopsPerSample(TensorShape input, bool training) => 0;

    protected Device RequireDevice() =>
        Device ?? throw new InvalidOperationException($"{TypeName} is not on a device yet: call model.To(device) first.");

    /// <summary>A sample shape as a user reads it, batch included: <c>(N, 1, 8, 8)</c>.</summary>
    public static string Describe(TensorShape sample) => sample.Rank == 0 ? "(N,)" : $"(N, {string.Join(", ", sample.ToArray())})";

    /// <summary>Throws when <paramref name="input"/> is not (batch, <paramref name="sample"/>...).</summary>
    protected void RequireShape(Tensor input, TensorShape sample, string role = "input")
    {
        bool fits = input.Rank == sample.Rank + 1;
        for (int axis = 0; fits && axis < sample.Rank; axis++)
            fits = input.Shape[axis + 1] == sample[axis];
        if (!fits)
            throw new ShapeMismatchException($"{this}: {role} {input.Shape} must be {Describe(sample)}.");
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);
}
