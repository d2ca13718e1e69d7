using System.Globalization;
using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// Multi-head self-attention on sequences (N, T, D), as nanoGPT's <c>CausalSelfAttention</c>:
/// <code>
/// qkv = self.qkv(x)                                   # nn.Linear(D, 3D): q, then k, then v
/// q, k, v = qkv.split(D, dim=2), each .view(N, T, H, D // H).transpose(1, 2)
/// att = (q @ k.transpose(-2, -1)) / sqrt(D // H), masked above the diagonal when causal
/// y = dropout(softmax(att)) @ v, then .transpose(1, 2).contiguous().view(N, T, D)
/// return self.proj(y)                                 # nn.Linear(D, D)
/// </code>
/// Parameters <c>qkv.weight</c> (3D, D), <c>qkv.bias</c>, <c>proj.weight</c> (D, D), <c>proj.bias</c>,
/// PyTorch's Linear initialisation. The middle is one fused op (<see cref="Ops.Attention"/>): the
/// T x T weights are never stored. Dropout on the weights acts in training mode only.
/// </summary>
public sealed class Attention : Module
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly Workspace heads = new();
    private readonly Workspace headGradient = new();
    private readonly Workspace logSumExp = new();
    private readonly Workspace deltas = new();
    private Tensor? projected;
    private Tensor? mixed;
    private Tensor? lse;
    private AttentionDropout? lastDropout;
    private ulong seed;
    private long step;
    private long firstRow;

    public Attention(int dim, int heads, bool causal = true, double dropout = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        if (dim % heads != 0)
            throw new ArgumentException($"{heads} heads do not divide the width {dim}.", nameof(heads));
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "Attention: dropout must be in [0, 1).");
        Dim = dim;
        Heads = heads;
        Causal = causal;
        DropoutP = dropout;
        qkv = new Linear(dim, 3 * dim);
        proj = new Linear(dim, dim);
    }

    public override string TypeName => "CausalSelfAttention";

    /// <summary>D, the width of the sequence.</summary>
    public int Dim { get; }

    public int Heads { get; }

    /// <summary>True: query i sees keys 0..i only.</summary>
    public bool Causal { get; }

    /// <summary>Dropout on the attention weights in training.</summary>
    public double DropoutP { get; }

    public override LayerSpec Spec => new AttentionSpec(Dim, Heads, Causal, DropoutP);

    public override bool PreservesShape => true;

    public override bool IsCausal => Causal;

    internal override bool ComputesInputGradient
    {
        get => qkv.ComputesInputGradient;
        set => qkv.ComputesInputGradient = value;
    }

    protected override IReadOnlyList<Parameter> GetParameters() => [.. qkv.Parameters(), .. proj.Parameters()];

    public override TensorShape OutputShapeFor(TensorShape input) =>
        input.Rank == 2 && input[1] == Dim
            ? input
            : throw new ShapeMismatchException($"{this}: input {Describe(input)} is not a sequence (N, T, {Dim}).");

    public override Tensor Forward(Tensor input)
    {
        var device = RequireDevice();
        if (input.Rank != 3)
            throw new ShapeMismatchException($"{this}: input {input.Shape} is not a sequence (N, T, {Dim}).");
        OutputShapeFor(new TensorShape(input.Shape[1], input.Shape[2]));
        int batch = input.Shape[0], steps = input.Shape[1];
        projected = qkv.Forward(input);
        mixed = heads.Get(device, batch, new TensorShape(steps, Dim));
        lse = logSumExp.Rows(device, batch * Heads * steps, 1);
        lastDropout = IsTraining && DropoutP > 0 ? new AttentionDropout(DropoutP, seed, step++, firstRow) : null;
        Ops.Attention(projected, mixed, lse, Heads, Causal, lastDropout);
        return proj.Forward(mixed);
    }

    public override Tensor? Backward(Tensor gradOutput)
    {
        var device = RequireDevice();
        var y = mixed ?? throw new InvalidOperationException($"{this}: Backward called before Forward.");
        var dy = proj.Backward(gradOutput)!;
        var dqkv = headGradient.Get(device, projected!.Shape[0], new TensorShape(projected.Shape[1], 3 * Dim));
        var delta = deltas.Rows(device, lse!.Length, 1);
        Ops.AttentionBackward(projected, y, dy, lse, delta, dqkv, Heads, Causal, lastDropout);
        return qkv.Backward(dqkv);
    }

    public override string ToString() =>
        $"CausalSelfAttention(dim={Dim}, heads={Heads}, causal={(Causal ? "True" : "False")}, dropout={DropoutP.ToString("R", CultureInfo.InvariantCulture)})";

    internal override IEnumerable<(string Name, TensorShape Shape)> ParameterShapes =>
        [.. qkv.ParameterShapes.Select(p => ($"qkv.{p.Name}", p.Shape)), .. proj.ParameterShapes.Select(p => ($"proj.{p.Name}", p.Shape))];

    internal override void Bind(Device device, IReadOnlyList<Parameter> parameters)
    {
        base.Bind(device, parameters);
        qkv.Bind(device, [parameters[0], parameters[1]]);
        proj.Bind(device, [parameters[2], parameters[3]]);
    }

    // qkv's weight and bias, then proj's, in state_dict order (PyTorch's Linear init for each).
    internal override void ResetParameters(Random random)
    {
        qkv.ResetParameters(random);
        proj.ResetParameters(random);
    }

    internal override void Seed(ulong seed) => this.seed = seed;

    internal override void MoveRandomTo(long step, long firstRow)
    {
        this.step = step;
        this.firstRow = firstRow;
    }

    // The projections, plus per head q k^T and P v: 4 T T D (half when causal); backward recomputes
    // the scores once more and takes four products: about 2.5x the forward's attention.
    internal override long FlopsPerSample(TensorShape input, bool training)
    {
        long steps = input[0];
        long products = qkv.FlopsPerSample(input, training) + proj.FlopsPerSample(input, training);
        long scores = 4L * steps * steps * Dim / (Causal ? 2 : 1);
        return products + (training ? scores * 7 / 2 : scores);
    }

    public override void Dispose()
    {
        qkv.Dispose();
        proj.Dispose();
        heads.Dispose();
        headGradient.Dispose();
        logSumExp.Dispose();
        deltas.Dispose();
        base.Dispose();
    }
}

/// <summary>Describes an <see cref="Attention"/> layer: <c>attention(heads[,causal=true][,dropout=p])</c> on sequences (N, T, D).</summary>
[LayerType("CausalSelfAttention")]
public sealed record AttentionSpec(int Dim, int Heads, bool Causal = true, double Dropout = 0) : LayerSpec, IRegistered<LayerWord>
{
    public static LayerWord Entry { get; } = new("attention", "attention(heads[,causal=true][,dropout=p])", Parse);

    private static LayerSpec Parse(CallText text, LayerInput input)
    {
        text.Expect(1, "causal", "dropout");
        if (input.Rank != 2)
            throw new ShapeMismatchException($"attention takes a sequence (N, T, D) but gets {Module.Describe(input)} (put an embedding before it, or give --input-shape T,F)");
        int heads = text.Int(0, "heads"), dim = input[1];
        if (dim % heads != 0)
            throw new FormatException($"{heads} heads do not divide the width {dim} (each head takes D / heads columns)");
        if (dim / heads > Ops.MaxAttentionHeadDim)
            throw new FormatException($"heads of {dim / heads} columns are wider than {Ops.MaxAttentionHeadDim}: use more heads");
        double dropout = text.NamedNumber("dropout", 0);
        if (!(dropout >= 0 && dropout < 1))
            throw new FormatException($"dropout '{dropout.ToString("R", CultureInfo.InvariantCulture)}' must be in [0, 1)");
        return new AttentionSpec(dim, heads, text.NamedFlag("causal", true), dropout);
    }

    public override Module Create() => new Attention(Dim, Heads, Causal, Dropout);

    public override string Format()
    {
        string causal = Causal ? "" : ",causal=false";
        string dropout = Dropout == 0 ? "" : $",dropout={Dropout.ToString("R", CultureInfo.InvariantCulture)}";
        return $"attention({Heads}{causal}{dropout})";
    }

    internal override string ToOnnx(OnnxLayer layer, string input) => AttentionOnnx.Write(layer, input, this);
}

/// <summary>
/// Attention in ONNX (opset 17), nanoGPT's non-fused path written out: the qkv projection; Reshape to
/// (N, T, 3, H, d) and Transpose to (3, N, H, T, d); Gather q, k, v; MatMul q k^T, times 1/sqrt(d);
/// Add a (T, T) mask of -inf above the diagonal when causal; Softmax over the last axis; MatMul by v;
/// Transpose and Reshape back to (N, T, D); the output projection.
/// </summary>
internal static class AttentionOnnx
{
    public static string Write(OnnxLayer layer, string input, AttentionSpec spec)
    {
        int steps = layer.InputShape[0], dim = spec.Dim, heads = spec.Heads, d = dim / heads;
        string projected = new LinearSpec(dim, 3 * dim).ToOnnx(layer.Child("qkv", layer.InputShape), input);
        string split = layer.Node("Reshape", [projected, layer.Int64Vector("qkv_shape", 0, steps, 3, heads, d)], "_qkv");
        string parts = layer.Node("Transpose", [split], "_qkv", OnnxGraph.Attribute("perm", 2, 0, 3, 1, 4));
        string Part(int index, string name) => layer.Node("Gather", [parts, layer.Int64Scalar($"{name}_index", index)], $"_{name}", OnnxGraph.Attribute("axis", 0L));
        string q = Part(0, "q"), k = Part(1, "k"), v = Part(2, "v");
        string keys = layer.Node("Transpose", [k], "_k", OnnxGraph.Attribute("perm", 0, 1, 3, 2));
        string scores = layer.Node("MatMul", [q, keys], "_scores");
        string scaled = layer.Node("Mul", [scores, layer.Scalar("scale", 1f / MathF.Sqrt(d))], "_scores");
        if (spec.Causal)
        {
            var mask = new float[steps * steps];
            for (int i = 0; i < steps; i++)
            {
                for (int j = i + 1; j < steps; j++)
                    mask[i * steps + j] = float.NegativeInfinity;
            }

            scaled = layer.Node("Add", [scaled, layer.Derived("causal_mask", [steps, steps], mask)], "_masked");
        }

        string weights = layer.Node("Softmax", [scaled], "", OnnxGraph.Attribute("axis", -1L));
        string mixed = layer.Node("MatMul", [weights, v], "_mixed");
        string merged = layer.Node("Transpose", [mixed], "_merged", OnnxGraph.Attribute("perm", 0, 2, 1, 3));
        string flat = layer.Node("Reshape", [merged, layer.Int64Vector("merged_shape", 0, steps, dim)], "_merged");
        return new LinearSpec(dim, dim).ToOnnx(layer.Child("proj", layer.InputShape), flat);
    }
}
