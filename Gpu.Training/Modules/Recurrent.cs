using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// What nn.LSTM and nn.GRU share (batch_first=True, from a zero state, returning the whole output
/// sequence): L stacked layers, each with <c>weight_ih_l{k}</c> (G H, in), <c>weight_hh_l{k}</c>
/// (G H, H), <c>bias_ih_l{k}</c> and <c>bias_hh_l{k}</c> (G H), G gates per unit, all initialised
/// U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's. The sequence runs time-major inside (step t's rows are
/// contiguous): per layer the input projection of every step is one product, then each step is one
/// product with <c>W_hh</c> and one fused gate kernel (<see cref="Ops.LstmStep"/>,
/// <see cref="Ops.GruStep"/>); backward through time has the same structure, the weight gradients
/// of <c>W_ih</c> one product over all steps. Every per-step view is made once per sequence shape.
/// </summary>
public abstract class RecurrentLayer : Module
{
    private readonly Workspace timeMajorInput = new();
    private readonly Workspace timeMajorGradient = new();
    private readonly Workspace output = new();
    private readonly Workspace gradInput = new();
    private readonly Workspace[] projections;
    private readonly Workspace[] outputs;
    private readonly Workspace[] inputGradients;
    private readonly ReshapedView inputRows = new();
    private readonly ReshapedView gradientRows = new();
    private readonly ReshapedView outputSteps = new();
    private readonly ReshapedView gradientSteps = new();
    private readonly RowRangeView laterGradients = new();
    private readonly RowRangeView earlierOutputs = new();
    private Parameter[] parameters = [];
    private Tensor? input;
    private Tensor? xT;
    private (int Batch, int Steps) shape;

    protected RecurrentLayer(int inputSize, int hidden, int layers, int gates)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        InputSize = inputSize;
        HiddenSize = hidden;
        NumLayers = layers;
        Gates = gates;
        projections = [.. Enumerable.Range(0, layers).Select(_ => new Workspace())];
        outputs = [.. Enumerable.Range(0, layers).Select(_ => new Workspace())];
        inputGradients = [.. Enumerable.Range(0, layers).Select(_ => new Workspace())];
    }

    /// <summary>Features per step of the input.</summary>
    public int InputSize { get; }

    /// <summary>Hidden units per layer (the output's features).</summary>
    public int HiddenSize { get; }

    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }

    /// <summary>Gates per unit: 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n).</summary>
    protected int Gates { get; }

    /// <summary>Steps and samples of the last forward pass.</summary>
    protected int Steps => shape.Steps;

    protected int Batch => shape.Batch;

    protected override IReadOnlyList<Parameter> GetParameters() => parameters;

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Rank == 2 && input[1] == InputSize
            ? new TensorShape(input[0], HiddenSize)
            : throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes sequences (N, T, {InputSize}).");

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 3)
            throw new ShapeMismatchException($"{this}: input {input.Shape} is not a sequence (N, T, {InputSize}).");
        OutputShapeFor(new TensorShape(input.Shape[1], input.Shape[2]));
        int batch = input.Shape[0], steps = input.Shape[1];
        shape = (batch, steps);
        this.input = input;
        xT = timeMajorInput.Get(device, steps, new TensorShape(batch, InputSize));
        Ops.SwapLeadingAxes(input, xT);
        var layerInput = Rows(inputRows, xT);
        for (int l = 0; l < NumLayers; l++)
        {
            var gx = projections[l].Rows(device, steps * batch, Gates * HiddenSize);
            Ops.Linear(layerInput, WeightIh(l).Data, BiasIh(l).Data, gx);
            var hs = outputs[l].Rows(device, steps * batch, HiddenSize);
            ForwardSteps(l, gx, hs);
            layerInput = hs;
        }

        var y = output.Get(device, batch, new TensorShape(steps, HiddenSize));
        Ops.SwapLeadingAxes(TimeMajor(outputSteps, layerInput, steps), y);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var x = input ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        int batch = Batch, steps = Steps;
        var dyT = timeMajorGradient.Get(device, steps, new TensorShape(batch, HiddenSize));
        Ops.SwapLeadingAxes(gradOutput, dyT);
        var dy = Rows(gradientRows, dyT);
        for (int l = NumLayers - 1; l >= 0; l--)
        {
            var layerInput = l == 0 ? Rows(inputRows, xT!) : HiddenOutputs(l - 1);
            var dGates = BackwardSteps(l, dy, layerInput);
            // Over all steps at once: the input weights' gradient, the input bias's (also the
            // hidden bias's for the LSTM, whose gates add both), and the gradient of the layer's input.
            Ops.MatMul(dGates, layerInput, WeightIh(l).Grad, transposeA: true, accumulate: true);
            Ops.ColumnSums(dGates, BiasIh(l).Grad, accumulate: true);
            if (l == 0 && !ComputesInputGradient)
                return null;
            var dx = inputGradients[l].Rows(device, steps * batch, l == 0 ? InputSize : HiddenSize);
            Ops.MatMul(dGates, WeightIh(l).Data, dx);
            dy = dx;
        }

        var gradIn = gradInput.Get(device, batch, new TensorShape(steps, InputSize));
        Ops.SwapLeadingAxes(TimeMajor(gradientSteps, dy, steps), gradIn);
        return gradIn;
    }

    /// <summary>Runs layer <paramref name="layer"/>'s steps: <paramref name="gx"/> (T N, G H) holds the input projections; writes the outputs <paramref name="hs"/> (T N, H).</summary>
    protected abstract void ForwardSteps(int layer, Tensor gx, Tensor hs);

    /// <summary>Backward through time of one layer, from the gradient of its outputs (T N, H); returns the gradient of its input projections (T N, G H).</summary>
    protected abstract Tensor BackwardSteps(int layer, Tensor dy, Tensor layerInput);

    /// <summary>
    /// W_hh's gradient over all steps in one product: step t's recurrent-product gradient (rows
    /// [t N, t N + N) of <paramref name="gradients"/>, t >= 1) times the previous step's output (rows
    /// [(t - 1) N, t N) of <paramref name="hidden"/>), summed over t. The steps' rows are contiguous,
    /// so this is gradients[N:]^T hidden[:-N]: one product with (T - 1) N rows instead of T thin ones.
    /// </summary>
    protected void AccumulateRecurrentWeightGradient(int layer, Tensor gradients, Tensor hidden)
    {
        if (Steps < 2)
            return;
        int rows = (Steps - 1) * Batch;
        Ops.MatMul(laterGradients.Of(gradients, Batch, rows), earlierOutputs.Of(hidden, 0, rows), WeightHh(layer).Grad, transposeA: true, accumulate: true);
    }

    protected Parameter WeightIh(int layer) => parameters[4 * layer];

    protected Parameter WeightHh(int layer) => parameters[4 * layer + 1];

    protected Parameter BiasIh(int layer) => parameters[4 * layer + 2];

    protected Parameter BiasHh(int layer) => parameters[4 * layer + 3];

    /// <summary>Layer <paramref name="layer"/>'s input projections of the last forward pass (T N, G H), its gates after the steps.</summary>
    protected Tensor ProjectionOf(int layer) => projections[layer].Rows(RequireDevice(), Steps * Batch, Gates * HiddenSize);

    /// <summary>Layer <paramref name="layer"/>'s outputs of the last forward pass (T N, H).</summary>
    protected Tensor HiddenOutputs(int layer) => outputs[layer].Rows(RequireDevice(), Steps * Batch, HiddenSize);

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes =>
        Enumerable.Range(0, NumLayers).SelectMany(l => new[]
        {
            ($"weight_ih_l{l}", new TensorShape(Gates * HiddenSize, l == 0 ? InputSize : HiddenSize)),
            ($"weight_hh_l{l}", new TensorShape(Gates * HiddenSize, HiddenSize)),
            ($"bias_ih_l{l}", new TensorShape(Gates * HiddenSize)),
            ($"bias_hh_l{l}", new TensorShape(Gates * HiddenSize)),
        });

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        this.parameters = [.. parameters];
    }

    // U(-1/sqrt(H), 1/sqrt(H)) for every parameter, in state_dict order (PyTorch's reset_parameters).
    internal override void ResetParameters(Random random)
    {
        double bound = 1.0 / Math.Sqrt(HiddenSize);
        foreach (var p in parameters)
            p.Data.CopyFrom(Initialization.Uniform(random, p.Data.Length, bound));
    }

    // Per step and layer: the two products (2 G H (in + H)); backward twice that and the W_ih input gradient.
    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        long forward = 0;
        for (int l = 0; l < NumLayers; l++)
            forward += 2L * Gates * HiddenSize * ((l == 0 ? InputSize : HiddenSize) + HiddenSize) * input[0];
        return training ? 3 * forward : forward;
    }

    public override void Dispose()
    {
        foreach (var workspace in projections.Concat(outputs).Concat(inputGradients))
            workspace.Dispose();
        timeMajorInput.Dispose();
        timeMajorGradient.Dispose();
        output.Dispose();
        gradInput.Dispose();
        base.Dispose();
    }

    // A (T, N, width) tensor as its (T N, width) rows, and back: views made once per tensor.
    private static Tensor Rows(ReshapedView view, Tensor timeMajor) =>
        view.Of(timeMajor, static t => [t.Shape[0] * t.Shape[1], t.Shape[2]]);

    private static Tensor TimeMajor(ReshapedView view, Tensor rows, int steps) =>
        view.Of(rows, steps, rows.Shape[0] / steps, rows.Shape[1]);
}

/// <summary>The per-step row views of time-major buffers, made once per buffer and batch size (a training step allocates none).</summary>
internal sealed class StepViews
{
    private Tensor? source;
    private Tensor[] steps = [];

    /// <summary>The views of [t N, t N + N) for every t of <paramref name="buffer"/> (T N, width).</summary>
    public Tensor[] Of(Tensor buffer, int batch)
    {
        if (!ReferenceEquals(buffer, source) || steps.Length == 0 || steps[0].Shape[0] != batch || steps[0].IsDisposed)
        {
            source = buffer;
            steps = [.. Enumerable.Range(0, buffer.Shape[0] / batch).Select(t => buffer.Rows(t * batch, batch))];
        }

        return steps;
    }
}

/// <summary>
/// torch.nn.LSTM(input, hidden, num_layers, batch_first=True) from a zero state, returning the output
/// sequence (N, T, hidden); gate order i, f, g, o: <c>c' = f c + i g</c>, <c>h' = o tanh(c')</c>.
/// </summary>
public sealed class LSTM(int inputSize, int hidden, int layers = 1) : RecurrentLayer(inputSize, hidden, layers, 4)
{
    private readonly Workspace[] cells = [.. Enumerable.Range(0, layers).Select(_ => new Workspace())];
    private readonly Workspace dhNext = new();
    private readonly Workspace dcNext = new();
    private readonly StepViews[] gateSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] cellSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] hiddenSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] gradientSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];

    public override string TypeName => "LSTM";

    public override LayerSpec Spec => new LstmSpec(InputSize, HiddenSize, NumLayers);

    public override string ToString() => $"LSTM({InputSize}, {HiddenSize}{(NumLayers > 1 ? $", num_layers={NumLayers}" : "")}, batch_first=True)";

    protected override void ForwardSteps(int layer, Tensor gx, Tensor hs)
    {
        var device = RequireDevice();
        var c = cells[layer].Rows(device, Steps * Batch, HiddenSize);
        var g = gateSteps[layer].Of(gx, Batch);
        var cs = cellSteps[layer].Of(c, Batch);
        var h = hiddenSteps[layer].Of(hs, Batch);
        for (int t = 0; t < Steps; t++)
        {
            if (t > 0)
                Ops.MatMul(h[t - 1], WeightHh(layer).Data, g[t], transposeB: true, accumulate: true);
            Ops.LstmStep(g[t], BiasHh(layer).Data, t > 0 ? cs[t - 1] : null, cs[t], h[t]);
        }
    }

    protected override Tensor BackwardSteps(int layer, Tensor dy, Tensor layerInput)
    {
        var device = RequireDevice();
        var gx = gateSteps[layer].Of(ProjectionOf(layer), Batch);
        var cs = cellSteps[layer].Of(cells[layer].Rows(device, Steps * Batch, HiddenSize), Batch);
        var h = hiddenSteps[layer].Of(HiddenOutputs(layer), Batch);
        var dys = gradientSteps[layer].Of(dy, Batch);
        var dh = dhNext.Rows(device, Batch, HiddenSize);
        var dc = dcNext.Rows(device, Batch, HiddenSize);
        for (int t = Steps - 1; t >= 0; t--)
        {
            Ops.LstmStepBackward(gx[t], cs[t], t > 0 ? cs[t - 1] : null, dys[t], t < Steps - 1 ? dh : null, dc);
            if (t == 0)
                break;
            Ops.MatMul(gx[t], WeightHh(layer).Data, dh);
        }

        // The gates add both biases: the hidden one's gradient is the input one's.
        var dGates = ProjectionOf(layer);
        AccumulateRecurrentWeightGradient(layer, dGates, HiddenOutputs(layer));
        Ops.ColumnSums(dGates, BiasHh(layer).Grad, accumulate: true);
        return dGates;
    }

    public override void Dispose()
    {
        foreach (var workspace in cells)
            workspace.Dispose();
        dhNext.Dispose();
        dcNext.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// torch.nn.GRU(input, hidden, num_layers, batch_first=True) from a zero state, returning the output
/// sequence (N, T, hidden); gate order r, z, n with <c>b_hn</c> inside the reset product:
/// <c>n = tanh(W_in x + b_in + r (W_hn h + b_hn))</c>, <c>h' = (1 - z) n + z h</c>.
/// </summary>
public sealed class GRU(int inputSize, int hidden, int layers = 1) : RecurrentLayer(inputSize, hidden, layers, 3)
{
    private readonly Workspace[] hiddenProjections = [.. Enumerable.Range(0, layers).Select(_ => new Workspace())];
    private readonly Workspace zeros = new();
    private readonly Workspace dhA = new();
    private readonly Workspace dhB = new();
    private readonly StepViews[] inputSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] projectionSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] hiddenSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];
    private readonly StepViews[] gradientSteps = [.. Enumerable.Range(0, layers).Select(_ => new StepViews())];

    public override string TypeName => "GRU";

    public override LayerSpec Spec => new GruSpec(InputSize, HiddenSize, NumLayers);

    public override string ToString() => $"GRU({InputSize}, {HiddenSize}{(NumLayers > 1 ? $", num_layers={NumLayers}" : "")}, batch_first=True)";

    protected override void ForwardSteps(int layer, Tensor gx, Tensor hs)
    {
        var device = RequireDevice();
        var gh = hiddenProjections[layer].Rows(device, Steps * Batch, 3 * HiddenSize);
        var gi = inputSteps[layer].Of(gx, Batch);
        var ghs = projectionSteps[layer].Of(gh, Batch);
        var h = hiddenSteps[layer].Of(hs, Batch);
        var zero = zeros.Rows(device, Batch, HiddenSize);
        Ops.Fill(zero, 0f);
        for (int t = 0; t < Steps; t++)
        {
            // The zero state's product is the bias alone; computing it keeps one path for every step.
            Ops.Linear(t > 0 ? h[t - 1] : zero, WeightHh(layer).Data, BiasHh(layer).Data, ghs[t]);
            Ops.GruStep(gi[t], ghs[t], t > 0 ? h[t - 1] : null, h[t]);
        }
    }

    protected override Tensor BackwardSteps(int layer, Tensor dy, Tensor layerInput)
    {
        var device = RequireDevice();
        var gi = inputSteps[layer].Of(ProjectionOf(layer), Batch);
        var gh = hiddenProjections[layer].Rows(device, Steps * Batch, 3 * HiddenSize);
        var ghs = projectionSteps[layer].Of(gh, Batch);
        var h = hiddenSteps[layer].Of(HiddenOutputs(layer), Batch);
        var dys = gradientSteps[layer].Of(dy, Batch);
        Tensor next = dhA.Rows(device, Batch, HiddenSize), previous = dhB.Rows(device, Batch, HiddenSize);
        for (int t = Steps - 1; t >= 0; t--)
        {
            Ops.GruStepBackward(gi[t], ghs[t], t > 0 ? h[t - 1] : null, dys[t], t < Steps - 1 ? next : null, previous);
            if (t > 0)
                Ops.MatMul(ghs[t], WeightHh(layer).Data, previous, accumulate: true);
            (next, previous) = (previous, next);
        }

        AccumulateRecurrentWeightGradient(layer, gh, HiddenOutputs(layer));
        Ops.ColumnSums(gh, BiasHh(layer).Grad, accumulate: true);
        return ProjectionOf(layer);
    }

    public override void Dispose()
    {
        foreach (var workspace in hiddenProjections)
            workspace.Dispose();
        zeros.Dispose();
        dhA.Dispose();
        dhB.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes an <see cref="LSTM"/>: <c>lstm(hidden[,layers=L])</c> on sequences (N, T, F).</summary>
[LayerType("LSTM")]
public sealed record LstmSpec(int InputSize, int HiddenSize, int NumLayers = 1) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("lstm", "lstm(hidden[,layers=L])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input) =>
        RecurrentOnnx.Parse(text, input, (f, h, l) => new LstmSpec(f, h, l));

    public override Module Create() => new LSTM(InputSize, HiddenSize, NumLayers);

    public override string Format() => NumLayers == 1 ? $"lstm({HiddenSize})" : $"lstm({HiddenSize},layers={NumLayers})";

    // ONNX's gates are i, o, f, c; PyTorch's i, f, g, o.
    internal override string ToOnnx(OnnxLayer layer, string input) => RecurrentOnnx.Write(layer, input, "LSTM", NumLayers, HiddenSize, [0, 3, 1, 2]);
}

/// <summary>Describes a <see cref="GRU"/>: <c>gru(hidden[,layers=L])</c> on sequences (N, T, F).</summary>
[LayerType("GRU")]
public sealed record GruSpec(int InputSize, int HiddenSize, int NumLayers = 1) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("gru", "gru(hidden[,layers=L])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input) =>
        RecurrentOnnx.Parse(text, input, (f, h, l) => new GruSpec(f, h, l));

    public override Module Create() => new GRU(InputSize, HiddenSize, NumLayers);

    public override string Format() => NumLayers == 1 ? $"gru({HiddenSize})" : $"gru({HiddenSize},layers={NumLayers})";

    // ONNX's gates are z, r, h; PyTorch's r, z, n, with b_hn inside the reset product (linear_before_reset).
    internal override string ToOnnx(OnnxLayer layer, string input) => RecurrentOnnx.Write(layer, input, "GRU", NumLayers, HiddenSize, [1, 0, 2]);
}

/// <summary>The words' parsing and the ONNX form the LSTM and the GRU share.</summary>
internal static class RecurrentOnnx
{
    public static LayerSpec Parse(CallText text, LayerInput input, Func<int, int, int, LayerSpec> create)
    {
        text.Expect(1, "layers");
        if (input.Rank != 2)
            throw new ShapeMismatchException($"{text.Word} takes a sequence (N, T, features) but gets {Module.Describe(input)} (give --input-shape T,F, or put an embedding before it)");
        return create(input[1], text.Int(0, "hidden"), text.Named("layers", 1));
    }

    /// <summary>
    /// The layers as ONNX's recurrent op, one node per layer, time-major inside (ONNX Runtime's
    /// kernels take layout 0): Transpose, then per layer the op with its weights' gate blocks
    /// reordered and the biases concatenated, Squeeze of the direction axis; Transpose back.
    /// </summary>
    public static string Write(OnnxLayer layer, string input, string op, int layers, int hidden, int[] order)
    {
        int gates = order.Length;
        string x = layer.Node("Transpose", [input], "_in", OnnxGraph.Attribute("perm", 1, 0, 2));
        for (int l = 0; l < layers; l++)
        {
            int inputSize = l == 0 ? layer.InputShape[1] : hidden;
            string w = layer.Derived($"onnx_W_l{l}", [1, gates * hidden, inputSize], Reorder(layer.Values($"weight_ih_l{l}"), order, hidden, inputSize));
            string r = layer.Derived($"onnx_R_l{l}", [1, gates * hidden, hidden], Reorder(layer.Values($"weight_hh_l{l}"), order, hidden, hidden));
            string b = layer.Derived($"onnx_B_l{l}", [1, 2 * gates * hidden],
                [.. Reorder(layer.Values($"bias_ih_l{l}"), order, hidden, 1), .. Reorder(layer.Values($"bias_hh_l{l}"), order, hidden, 1)]);
            var attributes = op == "GRU"
                ? new[] { OnnxGraph.Attribute("hidden_size", (long)hidden), OnnxGraph.Attribute("linear_before_reset", 1L) }
                : [OnnxGraph.Attribute("hidden_size", (long)hidden)];
            string y = layer.Node(op, [x, w, r, b], $"_l{l}", attributes);
            x = layer.Node("Squeeze", [y, layer.Int64Vector($"axes_l{l}", 1)], $"_l{l}");
        }

        return layer.Node("Transpose", [x], "_out", OnnxGraph.Attribute("perm", 1, 0, 2));
    }

    // Blocks of `hidden` rows (of `width` values) taken in the given gate order.
    private static float[] Reorder(float[] values, int[] order, int hidden, int width)
    {
        var result = new float[values.Length];
        int block = hidden * width;
        for (int g = 0; g < order.Length; g++)
            Array.Copy(values, order[g] * block, result, g * block, block);
        return result;
    }
}
