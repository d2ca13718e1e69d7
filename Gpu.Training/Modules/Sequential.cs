using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Sequential: modules applied in order. Parameters are named as PyTorch's state_dict
/// names them (<c>0.weight</c>, <c>0.bias</c>, <c>2.weight</c>, ...) and live in one flat device buffer
/// once the model is moved with <see cref="To"/>.
/// <code>
/// using var model = new Sequential(new Linear(10, 20), new ReLU(), new Linear(20, 1)).To(device, seed: 0);
/// </code>
/// </summary>
public sealed class Sequential : Module
{
    private readonly List<Module> modules;
    private ParameterCollection? parameters;

    public Sequential(params Module[] modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        if (modules.Length == 0)
            throw new ArgumentException("Sequential needs at least one module.", nameof(modules));
        this.modules = [.. modules];
        InputFeatures = modules.OfType<Linear>().FirstOrDefault()?.InFeatures
            ?? throw new ArgumentException("Sequential needs at least one Linear layer to know its input width.", nameof(modules));
        int width = InputFeatures;
        for (int i = 0; i < this.modules.Count; i++)
        {
            try
            {
                width = this.modules[i].OutputFeatures(width);
            }
            catch (ShapeMismatchException e)
            {
                throw new ArgumentException($"Sequential: module {i} does not fit its predecessor: {e.Message}", nameof(modules), e);
            }
        }

        OutputFeaturesCount = width;

        // The data needs no gradient, and neither does anything before the first parameter.
        bool parametersBefore = false;
        foreach (var module in this.modules)
        {
            module.ComputesInputGradient = parametersBefore;
            parametersBefore |= module.ParameterShapes.Any();
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

    /// <summary>Rebuilds a model from the layer records saved in a checkpoint.</summary>
    public static Sequential FromSpecs(IEnumerable<LayerSpec> specs) => new([.. specs.Select(s => s.Create())]);

    public override string TypeName => "Sequential";

    public IReadOnlyList<Module> Modules => modules;

    /// <summary>Features the first layer expects.</summary>
    public int InputFeatures { get; }

    /// <summary>Features the last layer produces.</summary>
    public int OutputFeaturesCount { get; }

    /// <summary>Widths from input to output, e.g. [10, 20, 1].</summary>
    public IReadOnlyList<int> LayerWidths =>
        [InputFeatures, .. modules.OfType<Linear>().Select(l => l.OutFeatures)];

    /// <summary>The layer records that rebuild this model (see <see cref="FromSpecs"/>).</summary>
    public IReadOnlyList<LayerSpec> Specs => [.. modules.Select(m => m.Spec)];

    /// <summary>Number of scalar parameters.</summary>
    public long ParameterCount => modules.SelectMany(m => m.ParameterShapes).Sum(p => (long)p.Shape.Length);

    /// <summary>
    /// Allocates the flat parameter and gradient buffers on <paramref name="device"/> and initialises
    /// every parameter from one generator seeded with <paramref name="seed"/> (layer by layer, weight
    /// then bias). Returns this model.
    /// </summary>
    public Sequential To(Device device, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (parameters is not null)
            throw new InvalidOperationException("This model is already on a device; build a new one to use another.");
        var specs = new List<(string, TensorShape)>();
        for (int i = 0; i < modules.Count; i++)
            specs.AddRange(modules[i].ParameterShapes.Select(p => ($"{i}.{p.Name}", p.Shape)));
        parameters = new ParameterCollection(device, specs);
        base.Bind(device, parameters);
        int next = 0;
        for (int i = 0; i < modules.Count; i++)
        {
            int count = modules[i].ParameterShapes.Count();
            modules[i].Bind(device, [.. parameters.Skip(next).Take(count)]);
            next += count;
        }

        var random = new Random(seed);
        foreach (var module in modules)
            module.ResetParameters(random);
        return this;
    }

    /// <summary>All parameters in one flat buffer, in state_dict order: what optimizers take.</summary>
    public new ParameterCollection Parameters() =>
        parameters ?? throw new InvalidOperationException("The model is not on a device yet: call To(device) first.");

    protected override IReadOnlyList<Parameter> GetParameters() => Parameters();

    public override int OutputFeatures(int inputFeatures)
    {
        int width = inputFeatures;
        foreach (var module in modules)
            width = module.OutputFeatures(width);
        return width;
    }

    public override Tensor Forward(Tensor input)
    {
        RequireDevice();
        if (input.Rank != 2 || input.Shape[1] != InputFeatures)
            throw new ShapeMismatchException($"Sequential: input {input.Shape} must be (batch, {InputFeatures}) for a model with {InputFeatures} input features.");
        var x = input;
        foreach (var module in modules)
            x = module.Forward(x);
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

    /// <summary>Copies of every parameter, by state_dict name (synchronises the device).</summary>
    public Dictionary<string, float[]> StateDict() => Parameters().ToDictionary(p => p.Name, p => p.Data.ToArray());

    /// <summary>
    /// Loads parameters by state_dict name. Strict, as PyTorch's default: every name must be present
    /// with the right number of elements and no unknown name is accepted.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, (int[] Shape, float[] Data)> state)
    {
        var ps = Parameters();
        var missing = ps.Where(p => !state.ContainsKey(p.Name)).Select(p => p.Name).ToList();
        var unexpected = state.Keys.Where(k => ps.Find(k) is null).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            throw new ArgumentException(
                $"The weights do not match the model {string.Join("-", LayerWidths)}: "
                + (missing.Count > 0 ? $"missing {string.Join(", ", missing)}" : "")
                + (missing.Count > 0 && unexpected.Count > 0 ? "; " : "")
                + (unexpected.Count > 0 ? $"unexpected {string.Join(", ", unexpected)}" : "") + ".");
        }

        foreach (var p in ps)
        {
            var (shape, data) = state[p.Name];
            if (!new TensorShape(shape).Equals(p.Shape))
                throw new ShapeMismatchException($"Weight '{p.Name}' has shape {new TensorShape(shape)} but the model expects {p.Shape}.");
            p.Data.CopyFrom(data);
        }
    }

    /// <summary>
    /// Runs the model on host data in batches and returns the outputs, (rows, outputs) row-major.
    /// <paramref name="features"/> is (rows, <see cref="InputFeatures"/>) row-major.
    /// </summary>
    public float[] Predict(ReadOnlySpan<float> features, int batchSize = 4096)
    {
        var device = RequireDevice();
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (features.Length % InputFeatures != 0)
            throw new ShapeMismatchException($"Predict: {features.Length} values are not a whole number of rows of {InputFeatures} features.");
        int rows = features.Length / InputFeatures;
        var result = new float[rows * OutputFeaturesCount];
        using var batch = device.Zeros(Math.Min(batchSize, Math.Max(rows, 1)), InputFeatures);
        for (int start = 0; start < rows; start += batchSize)
        {
            int count = Math.Min(batchSize, rows - start);
            var x = batch.Rows(0, count);
            x.CopyFrom(features.Slice(start * InputFeatures, count * InputFeatures));
            Forward(x).CopyTo(result.AsSpan(start * OutputFeaturesCount, count * OutputFeaturesCount));
        }

        return result;
    }

    public override string ToString() =>
        "Sequential(\n" + string.Join("\n", modules.Select((m, i) => $"  ({i}): {m}")) + "\n)";

    internal override LayerSpec Spec => throw new NotSupportedException("Nested Sequential models are not supported.");

    internal override long FlopsPerSample(bool training) => modules.Sum(m => m.FlopsPerSample(training));

    /// <summary>Floating-point operations per sample of one training step (forward and backward) or of inference.</summary>
    public long Flops(bool training) => FlopsPerSample(training);

    /// <summary>Frees activations, then the parameter buffers.</summary>
    public override void Dispose()
    {
        foreach (var module in modules)
            module.Dispose();
        parameters?.Dispose();
        base.Dispose();
    }
}
