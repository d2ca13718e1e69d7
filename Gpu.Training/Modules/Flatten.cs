using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Flatten (start_dim 1): (batch, d1, d2, ...) becomes (batch, d1 d2 ...) in row-major order,
/// a view without copying. Backward reshapes the gradient back.
/// </summary>
public sealed class Flatten : Module
{
    private readonly ReshapedView flat = new();
    private readonly ReshapedView unflat = new();
    private Tensor? lastInput;

    public override string TypeName => "Flatten";

    public override LayerSpec Spec => new FlattenSpec();

    public override TensorShape OutputShapeFor(TensorShape input) => new(input.Length);

    public override Tensor Forward(Tensor input)
    {
        RequireDevice();
        if (input.Rank < 1)
            throw new ShapeMismatchException($"{this}: input {input.Shape} has no batch dimension.");
        lastInput = input;
        return input.Rank == 2 ? input : flat.Of(input, static t => [t.Shape[0], t.Shape[0] == 0 ? 0 : t.Length / t.Shape[0]]);
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var x = lastInput ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        if (!ComputesInputGradient)
            return null;
        if (gradOutput.Length != x.Length)
            throw new ShapeMismatchException($"{this}: gradOutput {gradOutput.Shape} does not match the last input {x.Shape}.");
        return x.Rank == 2 ? gradOutput : unflat.Of(gradOutput, x.Shape);
    }

    public override string ToString() => "Flatten(start_dim=1, end_dim=-1)";
}

/// <summary>Describes a <see cref="Flatten"/> layer.</summary>
[LayerType("Flatten")]
public sealed record FlattenSpec : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("flatten", "flatten", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0);
        return new FlattenSpec();
    }

    internal override string ToOnnx(OnnxLayer layer, string input) => layer.Node("Flatten", [input], "", OnnxGraph.Attribute("axis", 1L));

    public override Module Create() => new Flatten();
}
