using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A learned position table (context, dim) added to a sequence (batch, T, dim): position t of every
/// sample gets row t (nanoGPT's <c>wpe</c>, added to the token embedding). Initialised N(0, 0.02), as
/// nanoGPT's. A shorter sequence (T &lt; context, as when generating) uses the first T rows.
/// </summary>
public sealed class PositionalEmbedding : Module
{
    private readonly Workspace output = new();
    private readonly TensorShape tableShape;
    private readonly TensorShape sampleShape;
    private Parameter? weight;
    private Tensor? rows;
    private Tensor? gradRows;
    private Tensor? tableRows;

    public PositionalEmbedding(int context, int dim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(context, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        Context = context;
        Dim = dim;
        tableShape = new TensorShape(context, dim);
        sampleShape = tableShape;
    }

    public override string TypeName => "PositionalEmbedding";

    /// <summary>Positions the table holds: the longest sequence it takes.</summary>
    public int Context { get; }

    public int Dim { get; }

    public override LayerSpec Spec => new PositionalEmbeddingSpec(Context, Dim);

    public override bool PreservesShape => true;

    protected override IReadOnlyList<Parameter> GetParameters() => weight is null ? [] : [weight];

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Rank == 2 && input[0] <= Context && input[1] == Dim
            ? input
            : throw new ShapeMismatchException($"{this}: input {Describe(input)} does not fit: it takes sequences of up to {Context} positions of {Dim} values.");

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 3)
            throw new ShapeMismatchException($"{this}: input {input.Shape} is not (N, T, {Dim}).");
        OutputShapeFor(new TensorShape(input.Shape[1], input.Shape[2]));
        var y = output.Get(device, input.Shape[0], input.Shape[1] == Context ? sampleShape : new TensorShape(input.Shape[1], Dim));
        Ops.AddPositions(input, weight!.Data, y);
        return y;
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        RequireDevice();
        int block = gradOutput.Shape[1] * Dim;
        if (gradRows is null || !ReferenceEquals(rows, gradOutput))
        {
            // The batch's gradient as (N, T D) rows: a view made once per gradient tensor.
            rows = gradOutput;
            gradRows = gradOutput.Reshape(gradOutput.Shape[0], block);
        }

        if (tableRows is null || tableRows.Length != block)
            tableRows = weight!.Grad.Slice(0, block); // the table's first T rows, as one vector
        Ops.ColumnSums(gradRows, tableRows, accumulate: true);
        return ComputesInputGradient ? gradOutput : null;
    }

    public override string ToString() => $"PositionalEmbedding({Context}, {Dim})";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes => [("weight", tableShape)];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        weight = parameters[0];
    }

    internal override void ResetParameters(Random random) => weight!.Data.CopyFrom(Initialization.Normal(random, Context * Dim, 0.02));

    internal override long FlopsPerSample(TensorShape input, bool training) => (training ? 2L : 1L) * input.Length;

    public override void Dispose()
    {
        output.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes a <see cref="PositionalEmbedding"/>: <c>posembedding</c> takes (T, dim) sequences; the table has T rows.</summary>
[LayerType("PositionalEmbedding")]
public sealed record PositionalEmbeddingSpec(int Context, int Dim) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("posembedding", "posembedding[(context=C)]", Parse);

    // The table has C rows (default: the sequence length T); a longer table than T is allowed, its first T rows used (nanoGPT's block_size).
    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(0, "context");
        if (input.Rank != 2)
            throw new ShapeMismatchException($"posembedding takes a sequence (N, T, dim) but gets {Module.Describe(input)} (put an embedding before it)");
        int context = text.Named("context", input[0]);
        if (context < input[0])
            throw new ShapeMismatchException($"posembedding's table of {context} positions is shorter than the sequences' {input[0]} steps (the context): give context={input[0]} or more");
        return new PositionalEmbeddingSpec(context, input[1]);
    }

    public override Module Create() => new PositionalEmbedding(Context, Dim);

    public override string Format() => $"posembedding(context={Context})";

    // The table's first T rows (the exported model's sequence length), added with broadcasting.
    internal override string ToOnnx(OnnxLayer layer, string input) =>
        layer.Node("Add", [input, layer.Derived("weight_rows", [layer.InputShape[0], Dim], layer.Values("weight")[..(layer.InputShape[0] * Dim)])]);
}
