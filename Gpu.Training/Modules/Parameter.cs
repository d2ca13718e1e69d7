using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A learnable tensor of a model: a named view into the model's flat parameter buffer, with its
/// gradient a view into the flat gradient buffer at the same offset.
/// </summary>
public sealed class Parameter
{
    internal Parameter(string name, Tensor data, Tensor grad)
    {
        Name = name;
        Data = data;
        Grad = grad;
    }

    /// <summary>The name PyTorch's state_dict uses, e.g. <c>0.weight</c>.</summary>
    public string Name { get; }

    public Tensor Data { get; }

    /// <summary>Accumulated gradient (zeroed by <c>Optimizer.ZeroGrad</c>).</summary>
    public Tensor Grad { get; }

    public TensorShape Shape => Data.Shape;

    public override string ToString() => $"{Name} {Shape}";
}
