using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>torch.nn.ReLU: <c>y = max(x, 0)</c>; backward passes the gradient where y &gt; 0 (0 at x = 0).</summary>
public sealed class ReLU : Module
{
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private Tensor? lastOutput;

    public override string TypeName => "ReLU";

    public override int OutputFeatures(int inputFeatures) => inputFeatures;

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 2)
            throw new ShapeMismatchException($"ReLU(): input {input.Shape} must be (batch, features).");
        var y = output.Rows(device, input.Shape[0], input.Shape[1]);
        Ops.Relu(input, y);
        lastOutput = y;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var y = lastOutput ?? throw new InvalidOperationException("ReLU(): Backward called before Forward.");
        if (!ComputesInputGradient)
            return null;
        var dx = gradInput.Rows(device, y.Shape[0], y.Shape[1]);
        Ops.ReluBackward(y, gradOutput, dx);
        return dx;
    }

    public override string ToString() => "ReLU()";

    internal override LayerSpec Spec => new("ReLU");

    public override void Dispose()
    {
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}
