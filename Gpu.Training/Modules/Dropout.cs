using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Dropout(p): in training, zeroes each element with probability p and scales the rest by
/// 1 / (1 - p) (inverted dropout); in evaluation mode, the identity. The mask comes from a
/// counter-based generator keyed by the model's seed, this layer's position, the step and the
/// element's global index (docs/training.md), so runs are reproducible, a resumed run draws what
/// the uninterrupted one would have, and a batch split across processes draws what one process
/// would. Masks differ from PyTorch's generator; the distribution and scaling are PyTorch's.
/// </summary>
public sealed class Dropout : Module
{
    private readonly Workspace mask = new();
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private TensorShape? sample;
    private Tensor? lastMask;
    private ulong seed;
    private long step;
    private long firstRow;

    public Dropout(double p = 0.5)
    {
        if (!(p >= 0 && p <= 1))
            throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout: p must lie in [0, 1].");
        P = p;
    }

    public double P { get; }

    public override string TypeName => "Dropout";

    public override LayerSpec Spec => new DropoutSpec(P);

    public override TensorShape OutputShapeFor(TensorShape input) => input;

    public override bool PreservesShape => true;

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (!IsTraining || P == 0)
        {
            lastMask = null;
            return input;
        }

        sample = Samples.Of(input, sample);
        int batch = input.Shape[0];
        var m = mask.Get(device, batch, sample);
        Ops.DropoutMask(m, P, seed, step, firstRow * sample.Length);
        var y = output.Get(device, batch, sample);
        Ops.Multiply(input, m, y);
        lastMask = m;
        step++;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        if (!ComputesInputGradient)
            return null;
        if (lastMask is null)
            return gradOutput; // the identity: evaluation mode or p = 0
        var dx = gradInput.Get(device, gradOutput.Shape[0], sample!);
        Ops.Multiply(gradOutput, lastMask, dx);
        return dx;
    }

    public override string ToString() => $"Dropout(p={P.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, inplace=False)";

    internal override void Seed(ulong seed) => this.seed = seed;

    internal override void MoveRandomTo(long step, long firstRow)
    {
        this.step = step;
        this.firstRow = firstRow;
    }

    public override void Dispose()
    {
        mask.Dispose();
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="Dropout"/> layer.</summary>
[LayerType("Dropout")]
public sealed record DropoutSpec(double P = 0.5) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("dropout", "dropout(p)", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1);
        return new DropoutSpec(text.Number(0, "p"));
    }

    public override string Format() => $"dropout({P.ToString("R", System.Globalization.CultureInfo.InvariantCulture)})";

    // The identity at inference, as torch.onnx.export leaves it out.
    internal override string ToOnnx(OnnxLayer layer, string input) => input;

    public override Module Create() => new Dropout(P);
}
