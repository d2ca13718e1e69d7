using Google.Protobuf;
using Onnx;

namespace Gpu.Training;

/// <summary>
/// An ONNX graph built node by node, values named after the layer that makes them (PyTorch's style:
/// <c>/3/Gemm</c>); initializers are the model's parameters by state_dict name.
/// </summary>
internal sealed class OnnxGraph(IReadOnlyDictionary<string, Parameter> parameters)
{
    private int nodes;

    public GraphProto Graph { get; } = new() { Name = "gpu_training_model" };

    /// <summary>What layer <paramref name="path"/> (its state_dict prefix without the dot, e.g. "3") writes its nodes with, given the sample shape it takes.</summary>
    public OnnxLayer Layer(string path, Gpu.Runtime.TensorShape inputShape) => new(this, path, inputShape);

    public string Input(string name, int[] sample)
    {
        Graph.Input.Add(Value(name, sample));
        return name;
    }

    public void Output(string name, int[] sample) => Graph.Output.Add(Value(name, sample));

    public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{nodes++}" };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>Gives the last value a public name: an Identity node when it is a graph input or already named.</summary>
    public string Rename(string value, string name) => value == name ? value : Node("Identity", [value], name);

    public string Constant(string name, int[] shape, float[] values)
    {
        Graph.Initializer.Add(Tensor(name, shape, values));
        return name;
    }

    /// <summary>An int64 initializer (indices, shapes).</summary>
    public string ConstantInt64(string name, int[] shape, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(shape.Select(d => (long)d));
        tensor.Int64Data.Add(values);
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>A parameter's values, by state_dict name.</summary>
    public float[] Values(string name) =>
        parameters.TryGetValue(name, out var p) ? p.Data.ToArray() : throw new InvalidOperationException($"ONNX export: the model has no parameter {name}.");

    /// <summary>A parameter of the model as an initializer, or null when the model has none of that name (a layer without bias).</summary>
    public string? Parameter(string name)
    {
        if (!parameters.TryGetValue(name, out var p))
            return null;
        return Constant(name, p.Shape.ToArray(), p.Data.ToArray());
    }

    public static AttributeProto Attribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attribute(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.Add(values);
        return attribute;
    }

    private static TensorProto Tensor(string name, int[] shape, float[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(shape.Select(d => (long)d));
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < bytes.Length; i += 4)
                Array.Reverse(bytes, i, 4);
        }

        tensor.RawData = ByteString.CopyFrom(bytes); // ONNX stores raw data little-endian
        return tensor;
    }

    private static ValueInfoProto Value(string name, int[] sample)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (int d in sample)
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}

/// <summary>
/// What one layer writes its ONNX nodes with (<see cref="LayerSpec.ToOnnx"/>): nodes named
/// <c>/{path}/{op}</c>, its own parameters by their names within the layer ("weight"), and the
/// sample shape it takes.
/// </summary>
internal sealed class OnnxLayer(OnnxGraph graph, string path, Gpu.Runtime.TensorShape inputShape)
{
    /// <summary>The sample shape the layer takes (without the batch).</summary>
    public Gpu.Runtime.TensorShape InputShape => inputShape;

    /// <summary>A layer inside this one (a block's member, a projection of attention), its parameters named <c>{path}.{name}.*</c>.</summary>
    public OnnxLayer Child(string name, Gpu.Runtime.TensorShape childInputShape) => new(graph, $"{path}.{name}", childInputShape);

    /// <summary>A node whose output is named <c>/{path}/{op}{suffix}</c> (a suffix tells apart two nodes of one op, e.g. "_1").</summary>
    public string Node(string op, string[] inputs, string suffix = "", params AttributeProto[] attributes) =>
        graph.Node(op, inputs, $"/{path.Replace('.', '/')}/{op}{suffix}", attributes);

    /// <summary>The layer's parameter <paramref name="name"/> (e.g. "weight") as an initializer.</summary>
    public string Parameter(string name) =>
        graph.Parameter($"{path}.{name}") ?? throw new InvalidOperationException($"ONNX export: the model has no parameter {path}.{name}.");

    /// <summary>The parameter as a one-element list, or none when the layer has no such parameter (a bias).</summary>
    public string[] OptionalParameter(string name) => graph.Parameter($"{path}.{name}") is { } value ? [value] : [];

    /// <summary>A scalar constant of this layer, named <c>/{path}/{name}</c>.</summary>
    public string Scalar(string name, float value) => graph.Constant($"/{path.Replace('.', '/')}/{name}", [], [value]);

    /// <summary>An int64 scalar of this layer (an index), named <c>/{path}/{name}</c>.</summary>
    public string Int64Scalar(string name, long value) => graph.ConstantInt64($"/{path.Replace('.', '/')}/{name}", [], [value]);

    /// <summary>An int64 vector of this layer (axes, a shape), named <c>/{path}/{name}</c>.</summary>
    public string Int64Vector(string name, params long[] values) => graph.ConstantInt64($"/{path.Replace('.', '/')}/{name}", [values.Length], values);

    /// <summary>A float initializer of this layer from values the exporter computes (e.g. reordered weights), named <c>{path}.{name}</c>.</summary>
    public string Derived(string name, int[] shape, float[] values) => graph.Constant($"{path}.{name}", shape, values);

    /// <summary>The values of the layer's parameter <paramref name="name"/> (to reorder or combine them).</summary>
    public float[] Values(string name) => graph.Values($"{path}.{name}");
}
