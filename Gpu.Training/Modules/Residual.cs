using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A residual block, <c>x + f(x)</c> with f its layers in order (a transformer block's two halves:
/// <c>x + attn(ln_1(x))</c>, <c>x + mlp(ln_2(x))</c>). Parameters are named as PyTorch names a block
/// that holds an <c>nn.Sequential</c> of its layers as members: the layer at position j inside the
/// block at position i is <c>i.j.</c> (<c>2.1.qkv.weight</c>). f must give back its input's shape.
/// Backward: <c>dx = dy + f'(x)^T dy</c>.
/// </summary>
public sealed class Residual : Module
{
    private readonly List<Module> layers;
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private TensorShape? sample;

    public Residual(params Module[] layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Length == 0)
            throw new ArgumentException("residual needs at least one layer inside.", nameof(layers));
        this.layers = [.. layers];
    }

    public override string TypeName => "Residual";

    /// <summary>The layers of f, in order.</summary>
    public IReadOnlyList<Module> Layers => layers;

    public override LayerSpec Spec => new ResidualSpec([.. layers.Select(m => m.Spec)]);

    public override bool PreservesShape => true;

    public override bool IsCausal => layers.All(layer => layer.IsCausal);

    // The block's input gradient needs f's; inside, as in a model, layers before the first with
    // parameters need none unless the block's does.
    internal override bool ComputesInputGradient
    {
        get => base.ComputesInputGradient;
        set
        {
            base.ComputesInputGradient = value;
            bool needed = value;
            foreach (var layer in layers)
            {
                layer.ComputesInputGradient = needed;
                needed |= layer.ParameterShapes.Any();
            }
        }
    }

    protected override IReadOnlyList<Parameter> GetParameters() => [.. layers.SelectMany(m => m.Parameters())];

    public override TensorShape OutputShapeFor(TensorShape input)
    {
        var shape = input;
        for (int j = 0; j < layers.Count; j++)
        {
            try
            {
                shape = layers[j].OutputShapeFor(shape);
            }
            catch (ShapeMismatchException e)
            {
                throw new ShapeMismatchException($"residual: its layer {j}, {layers[j]}, cannot take {Describe(shape)}: {e.Message}");
            }
        }

        return shape.Equals(input)
            ? input
            : throw new ShapeMismatchException($"residual: its layers turn {Describe(input)} into {Describe(shape)}; a residual block must give back its input's shape to add it.");
    }

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        sample = Samples.Of(input, sample);
        var x = input;
        foreach (var layer in layers)
            x = layer.Forward(x);
        var y = output.Get(device, input.Shape[0], sample);
        Ops.Add(input, x, y);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        Tensor? grad = gradOutput;
        for (int j = layers.Count - 1; j >= 0 && grad is not null; j--)
            grad = layers[j].Backward(grad);
        if (!ComputesInputGradient)
            return null;
        // The first layer inside computes its input gradient whenever the block does (above).
        var inner = grad ?? throw new InvalidOperationException($"{this}: its first layer gave no input gradient.");
        var dx = gradInput.Get(device, gradOutput.Shape[0], sample!);
        Ops.Add(gradOutput, inner, dx);
        return dx;
    }

    public override void Train(bool mode = true)
    {
        base.Train(mode);
        foreach (var layer in layers)
            layer.Train(mode);
    }

    public override string ToString() => $"Residual({string.Join(", ", layers)})";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes =>
        layers.SelectMany((m, j) => m.ParameterShapes.Select(p => ($"{j}.{p.Name}", p.Shape)));

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        int next = 0;
        foreach (var layer in layers)
        {
            int count = layer.ParameterShapes.Count();
            layer.Bind(device, [.. parameters.Skip(next).Take(count)]);
            next += count;
        }
    }

    internal override void ResetParameters(Random random)
    {
        foreach (var layer in layers)
            layer.ResetParameters(random);
    }

    // Each layer inside its own stream: the block's seed and the layer's position.
    internal override void Seed(ulong seed)
    {
        for (int j = 0; j < layers.Count; j++)
            layers[j].Seed(unchecked((seed * 0x9E3779B97F4A7C15UL) + (ulong)j + 1));
    }

    internal override void MoveRandomTo(long step, long firstRow)
    {
        foreach (var layer in layers)
            layer.MoveRandomTo(step, firstRow);
    }

    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        long flops = input.Length * (training ? 2L : 1L);
        var shape = input;
        foreach (var layer in layers)
        {
            flops += layer.FlopsPerSample(shape, training);
            shape = layer.OutputShapeFor(shape);
        }

        return flops;
    }

    public override void Dispose()
    {
        foreach (var layer in layers)
            layer.Dispose();
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="Residual"/> block: <c>residual(layer,layer,...)</c>, any layers that keep the shape together.</summary>
[LayerType("Residual")]
public sealed record ResidualSpec(
    [property: JsonConverter(typeof(LayerListConverter))] IReadOnlyList<LayerSpec> Layers) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("residual", "residual(layer,layer,...)", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        if (text.Inside.Trim().Length == 0)
            throw new FormatException("residual needs its layers inside the parentheses, e.g. residual(layernorm,attention(4))");
        var (specs, output) = Architecture.ParseLayers(text.Inside, input);
        if (!output.Equals(input.Shape))
            throw new ShapeMismatchException($"its layers turn {Module.Describe(input)} into {Module.Describe(output)}; a residual block must give back its input's shape to add it");
        return new ResidualSpec(specs);
    }

    public override Module Create() => new Residual([.. Layers.Select(s => s.Create())]);

    public override string Format() => $"residual({string.Join(",", Layers.Select(s => s.Format()))})";

    // x + f(x): f's nodes (its layers named i.j), then Add.
    internal override string ToOnnx(OnnxLayer layer, string input)
    {
        string x = input;
        var shape = layer.InputShape;
        for (int j = 0; j < Layers.Count; j++)
        {
            using var module = Layers[j].Create();
            x = Layers[j].ToOnnx(layer.Child($"{j}", shape), x)
                ?? throw new NotSupportedException($"ONNX export does not cover {Layers[j].Format()} inside a residual block: it has no ONNX form.");
            shape = module.OutputShapeFor(shape);
        }

        return layer.Node("Add", [input, x]);
    }

    public bool Equals(ResidualSpec? other) => other is not null && Layers.SequenceEqual(other.Layers);

    public override int GetHashCode() => Layers.Aggregate(17, (h, s) => h * 31 + s.GetHashCode());
}

/// <summary>A list of layer records inside a record (a block's layers), as the model file writes a model's: objects with their "type".</summary>
internal sealed class LayerListConverter : JsonConverter<IReadOnlyList<LayerSpec>>
{
    public override IReadOnlyList<LayerSpec> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var node = JsonNode.Parse(ref reader) ?? throw new JsonException("a block's layers are null.");
        return LayerSpec.FromJson(node.ToJsonString());
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<LayerSpec> value, JsonSerializerOptions options)
    {
        using var document = JsonDocument.Parse(LayerSpec.ToJson(value));
        document.RootElement.WriteTo(writer);
    }
}
