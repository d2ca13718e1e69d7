using System.Collections;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// All parameters of a model in one device allocation (llm.c style): <see cref="Values"/> and
/// <see cref="Gradients"/> are flat buffers and each <see cref="Parameter"/> is a named view into
/// them, so an optimizer updates the whole model in one launch and zeroing the gradients is one memset.
/// </summary>
public sealed class ParameterCollection : IReadOnlyList<Parameter>, IDisposable
{
    private readonly List<Parameter> parameters = [];

    internal ParameterCollection(Device device, IReadOnlyList<(string Name, TensorShape Shape)> specs)
    {
        Device = device;
        long total = specs.Sum(s => (long)s.Shape.Length);
        if (total > int.MaxValue)
            throw new ArgumentException($"The model has {total} parameters; at most {int.MaxValue} are supported.");
        Values = device.Zeros(new TensorShape((int)total), "parameters");
        Gradients = device.Zeros(new TensorShape((int)total), "gradients");
        int offset = 0;
        foreach (var (name, shape) in specs)
        {
            parameters.Add(new Parameter(name, Values.Slice(offset, shape, name), Gradients.Slice(offset, shape, $"{name}.grad")));
            offset += shape.Length;
        }
    }

    public Device Device { get; }

    /// <summary>Every parameter, flat, in state_dict order: (total elements).</summary>
    public Tensor Values { get; }

    /// <summary>Every gradient, flat, aligned with <see cref="Values"/>.</summary>
    public Tensor Gradients { get; }

    /// <summary>Number of scalar parameters.</summary>
    public int ElementCount => Values.Length;

    public int Count => parameters.Count;

    public Parameter this[int index] => parameters[index];

    /// <summary>The parameter with a state_dict name, or null.</summary>
    public Parameter? Find(string name) => parameters.Find(p => p.Name == name);

    /// <summary>Sets every gradient to zero (one memset).</summary>
    public void ZeroGrad() => Gradients.Zero();

    public IEnumerator<Parameter> GetEnumerator() => parameters.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        Gradients.Dispose();
        Values.Dispose();
    }
}
