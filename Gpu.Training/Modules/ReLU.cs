using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>torch.nn.ReLU: <c>y = max(x, 0)</c>; backward passes the gradient where y &gt; 0 (0 at x = 0). Any input shape.</summary>
public sealed class ReLU : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private Tensor? lastOutput;
    private TensorShape? sample;

    public override string TypeName => "ReLU";

    public override LayerSpec Spec => new ReLUSpec();

    public override TensorShape OutputShapeFor(TensorShape input) => input;

    public override bool PreservesShape => true;

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        var y = output.Get(device, input.Shape[0], SampleShape(input));
        Ops.Relu(input, y);
        lastOutput = y;
        return y;
    }

    /// <summary>
    /// The forward pass when the layer before already applied the ReLU to <paramref name="y"/> as
    /// it wrote it (<see cref="Sequential"/> pairs an <see cref="IReluEpilogue"/> layer with a following ReLU):
    /// keeps y for the backward pass and returns it.
    /// </summary>
    internal Tensor ForwardFused(Tensor y)
    {
        RequireDevice();
        SampleShape(y);
        lastOutput = y;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var y = lastOutput ?? throw new InvalidOperationException("ReLU(): Backward called before Forward.");
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Get(device, y.Shape[0], sample!);
        Ops.ReluBackward(y, gradOutput, dx);
        return dx;
    }

    public override string ToString() => "ReLU()";

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }

    // The input's shape without the batch, kept while it stays the same (no allocation per step).
    private TensorShape SampleShape(Tensor input) => sample = Samples.Of(input, sample);
}

/// <summary>Describes a <see cref="ReLU"/> layer.</summary>
[LayerType("ReLU")]
public sealed record ReLUSpec : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("relu", "relu", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0);
        return new ReLUSpec();
    }

    internal override string ToOnnx(OnnxLayer layer, string input) => layer.Node("Relu", [input]);

    public override Module Create() => new ReLU();
}

/// <summary>Sample shapes (a tensor's shape without its batch dimension).</summary>
internal static class Samples
{
    /// <summary>The sample shape of <paramref name="input"/>; <paramref name="previous"/> when it is the same, so steady steps allocate nothing.</summary>
    public static TensorShape Of(Tensor input, TensorShape? previous)
    {
        if (input.Rank < 1)
            throw new ShapeMismatchException($"Input {input.Shape} has no batch dimension.");
        if (previous is not null && previous.Rank == input.Rank - 1)
        {
            bool same = true;
            for (int axis = 0; same && axis < previous.Rank; axis++)
                same = previous[axis] == input.Shape[axis + 1];
            if (same)
                return previous;
        }

        return new TensorShape(input.Shape.ToArray()[1..]);
    }
}
