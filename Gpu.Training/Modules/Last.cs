using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// The last time step of a sequence, (batch, T, H) to (batch, H): <c>x[:, -1]</c>, what a sequence
/// classifier or regressor reads after a recurrent layer. Backward puts the gradient at the last step
/// and zeros elsewhere.
/// </summary>
public sealed class Last : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private TensorShape? sample;

    public override string TypeName => "Last";

    public override LayerSpec Spec => new LastSpec();

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Rank == 2
            ? new TensorShape(input[1])
            : throw new ShapeMismatchException($"{this}: last takes a sequence (N, T, H) but gets {Describe(input)}.");

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        sample = Samples.Of(input, sample);
        var y = output.Get(device, input.Shape[0], OutputShapeFor(sample));
        Ops.TimeStep(input, y, sample[0] - 1);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Get(device, gradOutput.Shape[0], sample ?? throw new InvalidOperationException($"{this}: Backward called before Forward."));
        Ops.TimeStep(dx, gradOutput, sample[0] - 1, backward: true);
        return dx;
    }

    public override string ToString() => "Last()";

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="Last"/>: the word <c>last</c>.</summary>
[LayerType("Last")]
public sealed record LastSpec : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("last", "last", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0);
        if (input.Rank != 2)
            throw new ShapeMismatchException($"last takes a sequence (N, T, H) but gets {Module.Describe(input)}");
        return new LastSpec();
    }

    public override Module Create() => new Last();

    // x[:, -1]: Gather at index T - 1 on axis 1 (a scalar index drops the axis).
    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("Gather", [input, layer.Int64Scalar("last", layer.InputShape[0] - 1)], "", OnnxGraph.Attribute("axis", 1L));
}
