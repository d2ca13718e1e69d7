using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Sequential: modules applied in order. The model knows the sample shape it takes (given,
/// or fixed by its first Linear) and checks at construction that every layer takes what the one
/// before gives. Parameters are named as PyTorch's state_dict names them (<c>0.weight</c>,
/// <c>0.bias</c>, <c>3.weight</c>, ...: every module counts, parameterless ones included) and live in
/// one flat device buffer once the model is moved with <see cref="To"/>.
/// <code>
/// using var mlp = new Sequential(new Linear(10, 20), new ReLU(), new Linear(20, 1)).To(device, seed: 0);
/// using var cnn = new Sequential(new TensorShape(1, 8, 8),
///     new Conv2d(1, 16, 3, padding: 1), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(256, 10)).To(device);
/// </code>
/// </summary>
public sealed class Sequential : Module
{
    private readonly List<Module> modules;
    private readonly List<TensorShape> shapes; // shapes[i] is what module i takes; shapes[^1] the model's output
    private ParameterCollection? parameters;

    /// <summary>A model whose input shape is fixed by its first <see cref="Linear"/> (an MLP).</summary>
    public Sequential(params Module[] modules)
        : this(null, modules)
    {
    }

    /// <summary>
    /// A model taking samples of <paramref name="inputShape"/> (e.g. (1, 8, 8) for 8x8 grey images,
    /// (10) for 10 features); null: the first layer that fixes its input (a Linear) decides.
    /// </summary>
    public Sequential(TensorShape? inputShape, params Module[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0)
            throw new ArgumentException("Sequential needs at least one module.", nameof(modules));
        this.modules = [.. modules];
        InputShape = inputShape ?? LearnInputShape(this.modules);
        shapes = [InputShape];
        for (int i = 0; i < this.modules.Count; i++)
        {
            try
            {
                shapes.Add(this.modules[i].OutputShapeFor(shapes[i]));
            }
            catch (ShapeMismatchException e)
            {
                throw new ArgumentException($"Sequential: layer {i}, {this.modules[i]}, cannot take the {(i == 0 ? "model's input" : $"output of layer {i - 1}")} {Describe(shapes[i])}: {e.Message}", nameof(modules), e);
            }
        }

        SetGradientFlags();
    }

    /// <summary>
    /// When true, <see cref="Module.Backward"/> returns the gradient with respect to the model's input
    /// (PyTorch's <c>x.requires_grad = True</c>: saliency maps, checks). Off by default: the data needs
    /// no gradient, and neither does any layer before the first parameter, which saves their backward work.
    /// </summary>
    public bool InputRequiresGrad
    {
        get => inputRequiresGrad;
        set
        {
            inputRequiresGrad = value;
            SetGradientFlags();
        }
    }

    private bool inputRequiresGrad;

    private void SetGradientFlags()
    {
        bool needed = inputRequiresGrad;
        foreach (var module in modules)
        {
            module.ComputesInputGradient = needed;
            needed |= module.ParameterShapes.Any();
        }
    }

    /// <summary>A multi-layer perceptron: Linear, ReLU, ..., Linear (no activation after the last layer).</summary>
    public static Sequential Mlp(int inputs, IReadOnlyList<int> hidden, int outputs)
    {
        var layers = new List<Module>();
        int width = inputs;
        foreach (int h in hidden)
        {
            layers.Add(new Linear(width, h));
            layers.Add(new ReLU());
            width = h;
        }

        layers.Add(new Linear(width, outputs));
        return new Sequential([.. layers]);
    }

    /// <summary>Rebuilds a model from the layer records saved in a model file.</summary>
    public static Sequential FromSpecs(IEnumerable<LayerSpec> specs, TensorShape? inputShape = null) =>
        new(inputShape, [.. specs.Select(s => s.Create())]);

    public override string TypeName => "Sequential";

    public IReadOnlyList<Module> Modules => modules;

    /// <summary>The sample shape the model takes, e.g. (10) or (1, 8, 8).</summary>
    public TensorShape InputShape { get; }

    /// <summary>The sample shape the model gives, e.g. (10) for ten logits.</summary>
    public TensorShape OutputShape => shapes[^1];

    /// <summary>The sample shape module <paramref name="index"/> takes.</summary>
    public TensorShape ShapeBefore(int index) => shapes[index];

    /// <summary>Values per input sample: the product of <see cref="InputShape"/> (the CSV columns the model reads).</summary>
    public int InputFeatures => InputShape.Length;

    /// <summary>Values per output sample.</summary>
    public int OutputFeaturesCount => OutputShape.Length;

    /// <summary>The input width and each Linear's output width, e.g. [10, 20, 1] (an MLP's shorthand).</summary>
    public IReadOnlyList<int> LayerWidths =>
        [InputFeatures, .. modules.OfType<Linear>().Select(l => l.OutFeatures)];

    /// <summary>True when the model is Linear layers with ReLUs between them: what <see cref="Mlp"/> builds.</summary>
    public bool IsMlp =>
        InputShape.Rank == 1 && modules.Select((m, i) => i % 2 == 0 ? m is Linear : m is ReLU).All(ok => ok) && modules[^1] is Linear;

    /// <summary>The layer records that rebuild this model (see <see cref="FromSpecs"/>).</summary>
    public IReadOnlyList<LayerSpec> Specs => [.. modules.Select(m => m.Spec)];

    public override LayerSpec Spec => throw new NotSupportedException("Nested Sequential models are not supported.");

    /// <summary>Parameter names (state_dict keys) and shapes, in order, known before the model is on a device.</summary>
    public IReadOnlyList<(string Name, TensorShape Shape)> ParameterLayout =>
        [.. modules.SelectMany((m, i) => m.ParameterShapes.Select(p => ($"{i}.{p.Name}", p.Shape)))];

    /// <summary>Number of scalar parameters.</summary>
    public long ParameterCount => ParameterLayout.Sum(p => (long)p.Shape.Length);

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Equals(InputShape) ? OutputShape : throw new ShapeMismatchException($"Sequential: input {Describe(input)} does not fit: the model takes {Describe(InputShape)}.");

    public override void Train(bool mode = true)
    {
        base.Train(mode);
        foreach (var module in modules)
            module.Train(mode);
    }

    /// <summary>
    /// Allocates the flat parameter and gradient buffers on <paramref name="device"/> and initialises
    /// every parameter from one generator seeded with <paramref name="seed"/> (layer by layer, weight
    /// then bias); random layers (Dropout) are keyed by the seed and their position. Returns this model.
    /// </summary>
    public Sequential To(Device device, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (parameters is not null)
            throw new InvalidOperationException("This model is already on a device; build a new one to use another.");
        parameters = new ParameterCollection(device, ParameterLayout);
        base.Bind(device, parameters);
        int next = 0;
        for (int i = 0; i < modules.Count; i++)
        {
            int count = modules[i].ParameterShapes.Count();
            modules[i].Bind(device, [.. parameters.Skip(next).Take(count)]);
            next += count;
        }

        var random = new Random(seed);
        for (int i = 0; i < modules.Count; i++)
        {
            modules[i].ResetParameters(random);
            modules[i].Seed(unchecked(((ulong)(uint)seed << 32) | (uint)i));
        }

        return this;
    }

    /// <summary>All parameters in one flat buffer, in state_dict order: what optimizers take.</summary>
    public new ParameterCollection Parameters() =>
        parameters ?? throw new InvalidOperationException("The model is not on a device yet: call To(device) first.");

    protected override IReadOnlyList<Parameter> GetParameters() => Parameters();

    public override Tensor Forward(Tensor input)
    {
        RequireDevice();
        RequireShape(input, InputShape);
        var x = input;
        for (int i = 0; i < modules.Count; i++)
        {
            // A Conv2d or Linear followed by a ReLU is one op: the ReLU is applied as the layer
            // writes its output, saving a pass over it (the same values; the ReLU keeps them for
            // its backward pass, as it would its own output). Against the two ops, in one process:
            // the digits CNN's predict 0.81x the time, the reference MLP's 0.89x, the 1024-1024-1
            // training step 0.97-0.99x, the reference step 0.98-0.99x.
            if (modules[i] is IReluEpilogue layer && i + 1 < modules.Count && modules[i + 1] is ReLU relu)
            {
                x = relu.ForwardFused(layer.Forward(x, relu: true));
                i++;
                continue;
            }

            x = modules[i].Forward(x);
        }

        return x;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        RequireDevice();
        Tensor? grad = gradOutput;
        for (int i = modules.Count - 1; i >= 0 && grad is not null; i--)
            grad = modules[i].Backward(grad);
        return grad;
    }

    /// <summary>
    /// Where random layers (Dropout) draw next: <paramref name="step"/> (the trainer passes the
    /// optimizer's step count) and the index of the batch's first row within the whole batch, so
    /// that a batch split across processes draws what one process would. Each training forward
    /// then moves to the next step by itself.
    /// </summary>
    public void SetRandomPosition(long step, long firstRow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        MoveRandomTo(step, firstRow);
    }

    internal override void MoveRandomTo(long step, long firstRow)
    {
        foreach (var module in modules)
            module.MoveRandomTo(step, firstRow);
    }

    /// <summary>Copies of every parameter, by state_dict name (synchronises the device).</summary>
    public Dictionary<string, float[]> StateDict() => Parameters().ToDictionary(p => p.Name, p => p.Data.ToArray());

    /// <summary>
    /// Loads parameters by state_dict name. Strict, as PyTorch's default: every name must be present
    /// with the right shape and no unknown name is accepted.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, (int[] Shape, float[] Data)> state)
    {
        var ps = Parameters();
        CheckStateDict(state.ToDictionary(kv => kv.Key, kv => kv.Value.Shape));
        foreach (var p in ps)
            p.Data.CopyFrom(state[p.Name].Data);
    }

    /// <summary>
    /// Checks names and shapes of a state_dict against this model without touching a device: every
    /// parameter present with its shape, nothing unexpected. Throws an <see cref="ArgumentException"/>
    /// (or <see cref="ShapeMismatchException"/>) naming what differs.
    /// </summary>
    public void CheckStateDict(IReadOnlyDictionary<string, int[]> shapes)
    {
        var layout = ParameterLayout;
        var missing = layout.Where(p => !shapes.ContainsKey(p.Name)).Select(p => p.Name).ToList();
        var unexpected = shapes.Keys.Where(k => layout.All(p => p.Name != k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            throw new ArgumentException(
                $"The weights do not match the model {Summary}: "
                + (missing.Count > 0 ? $"missing {string.Join(", ", missing)}" : "")
                + (missing.Count > 0 && unexpected.Count > 0 ? "; " : "")
                + (unexpected.Count > 0 ? $"unexpected {string.Join(", ", unexpected)}" : "") + ".");
        }

        foreach (var (name, shape) in layout)
        {
            var given = new TensorShape(shapes[name]);
            if (!given.Equals(shape))
                throw new ShapeMismatchException($"Weight '{name}' has shape {given} but the model expects {shape}.");
        }
    }

    /// <summary>The model in one line: MLP widths (10-20-1), or the layer types in order.</summary>
    public string Summary => IsMlp ? string.Join("-", LayerWidths) : $"{Describe(InputShape)} -> {string.Join(", ", modules.Select(m => m.TypeName))}";

    /// <summary>
    /// Runs the model in evaluation mode on host data in batches and returns the outputs,
    /// (rows, <see cref="OutputFeaturesCount"/>) row-major. <paramref name="features"/> holds rows of
    /// <see cref="InputFeatures"/> values (images flattened in C, H, W order). The mode is restored after.
    /// </summary>
    public float[] Predict(ReadOnlySpan<float> features, int batchSize = 4096)
    {
        var device = RequireDevice();
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (features.Length % InputFeatures != 0)
            throw new ShapeMismatchException($"Predict: {features.Length} values are not a whole number of rows of {InputFeatures} features.");
        int rows = features.Length / InputFeatures;
        var result = new float[(long)rows * OutputFeaturesCount];
        bool training = IsTraining;
        Eval();
        try
        {
            using var batch = device.Zeros(new TensorShape([Math.Min(batchSize, Math.Max(rows, 1)), .. InputShape.ToArray()]), null);
            for (int start = 0; start < rows; start += batchSize)
            {
                int count = Math.Min(batchSize, rows - start);
                var x = batch.Rows(0, count);
                x.CopyFrom(features.Slice(start * InputFeatures, count * InputFeatures));
                Forward(x).CopyTo(result.AsSpan(start * OutputFeaturesCount, count * OutputFeaturesCount));
            }
        }
        finally
        {
            Train(training);
        }

        return result;
    }

    public override string ToString() =>
        "Sequential(\n" + string.Join("\n", modules.Select((m, i) => $"  ({i}): {m}")) + "\n)";

    internal override long FlopsPerSample(TensorShape input, bool training) =>
        modules.Select((m, i) => m.FlopsPerSample(shapes[i], training)).Sum();

    /// <summary>Floating-point operations per sample of one training step (forward and backward) or of inference.</summary>
    public long Flops(bool training) => FlopsPerSample(InputShape, training);

    /// <summary>Frees activations, then the parameter buffers.</summary>
    public override void Dispose()
    {
        foreach (var module in modules)
            module.Dispose();
        parameters?.Dispose();
        base.Dispose();
    }

    private static TensorShape LearnInputShape(List<Module> modules)
    {
        foreach (var module in modules)
        {
            if (module.FixedInputShape is { } shape)
                return shape;
            if (!module.PreservesShape)
                break; // a shape-changing layer before it: the input cannot be inferred
        }

        throw new ArgumentException("Sequential: the input shape cannot be inferred (no Linear layer comes first); pass it, e.g. new Sequential(new TensorShape(1, 28, 28), ...).", nameof(modules));
    }
}
