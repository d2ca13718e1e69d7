using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// torch.nn.Embedding(vocabulary, dim): token ids (batch, T) in, their rows of <c>weight</c>
/// (vocabulary, dim) out, (batch, T, dim). Ids arrive as floats (the data's class-index
/// convention, exact up to 2^24). Initialised N(0, 1), as PyTorch's. Backward adds each position's
/// gradient to its id's row in position order, so the result never depends on thread timing; the
/// ids themselves have no gradient.
/// </summary>
public sealed class Embedding : Module
{
    private readonly Workspace output = new();
    private readonly TensorShape weightShape;
    private Parameter? weight;
    private Tensor? ids;
    private TensorShape? sample;

    public Embedding(int vocabulary, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabulary, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        Vocabulary = vocabulary;
        Dim = dim;
        weightShape = new TensorShape(vocabulary, dim);
    }

    public override string TypeName => "Embedding";

    /// <summary>Rows of the table: ids lie in [0, Vocabulary).</summary>
    public int Vocabulary { get; }

    /// <summary>Values per row.</summary>
    public int Dim { get; }

    /// <summary>The table (vocabulary, dim).</summary>
    public Parameter Weight => weight ?? throw new InvalidOperationException("Embedding is not on a device yet: call model.To(device) first.");

    public override LayerSpec Spec => new EmbeddingSpec(Vocabulary, Dim);

    protected override IReadOnlyList<Parameter> GetParameters() => weight is null ? [] : [weight];

    public override TensorShape OutputShapeFor(TensorShape input) => new([.. input.ToArray(), Dim]);

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        sample = Samples.Of(input, sample);
        var y = output.Get(device, input.Shape[0], OutputShapeFor(sample));
        Ops.Embedding(input, Weight.Data, y);
        ids = input;
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        RequireDevice();
        var x = ids ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        Ops.EmbeddingBackward(x, gradOutput, Weight.Grad);
        return null; // ids have no gradient
    }

    public override string ToString() => $"Embedding({Vocabulary}, {Dim})";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes => [("weight", weightShape)];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        weight = parameters[0];
    }

    internal override void ResetParameters(Random random) => Weight.Data.CopyFrom(Initialization.Normal(random, Vocabulary * Dim, 1.0));

    // A copy per value forward; an add per value backward.
    internal override long FlopsPerSample(TensorShape input, bool training) => training ? (long)input.Length * Dim : 0;

    public override void Dispose()
    {
        output.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Describes an <see cref="Embedding"/>: <c>embedding(dim[,vocab=V])</c> on token ids, V defaulting
/// to the data's vocabulary (256 for --text; for --tokens the largest id + 1).
/// </summary>
[LayerType("Embedding")]
public sealed record EmbeddingSpec(int Vocabulary, int Dim) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("embedding", "embedding(dim[,vocab=V])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1, "vocab");
        if (input.Rank != 1)
            throw new ShapeMismatchException($"embedding takes token ids (N, T) but gets {Module.Describe(input)} (train on --text or --tokens)");
        int vocabulary = text.Named("vocab", input.Vocabulary ?? 0);
        if (vocabulary < 1)
            throw new FormatException("embedding needs vocab=V: the data has no vocabulary of its own (train on --text or --tokens, or give vocab)");
        return new EmbeddingSpec(vocabulary, text.Int(0, "dim"));
    }

    public override Module Create() => new Embedding(Vocabulary, Dim);

    public override string Format() => $"embedding({Dim},vocab={Vocabulary})";

    // ONNX's Gather takes integer indices: the float ids are cast first.
    internal override string ToOnnx(OnnxLayer layer, string input)
    {
        string indices = layer.Node("Cast", [input], "", OnnxGraph.Attribute("to", (long)Onnx.TensorProto.Types.DataType.Int64));
        return layer.Node("Gather", [layer.Parameter("weight"), indices], "", OnnxGraph.Attribute("axis", 0L));
    }
}
