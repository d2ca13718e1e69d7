using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// The layer registry: every layer record with a word is found, its word parses and formats back to
/// the same text, and the same record rebuilds the same model from a model file's JSON.
/// </summary>
public sealed class ArchitectureTests
{
    // One text per word, with every argument each takes (the help's usages name them all).
    private static readonly Dictionary<string, (string Text, int[] Input)> Examples = new()
    {
        ["conv"] = ("conv(4,3,stride=2,padding=1)", [2, 7, 7]),
        ["maxpool"] = ("maxpool(2,stride=1)", [2, 6, 6]),
        ["avgpool"] = ("avgpool(3)", [2, 6, 6]),
        ["flatten"] = ("flatten", [2, 3, 3]),
        ["linear"] = ("linear(5)", [3]),
        ["dropout"] = ("dropout(0.25)", [3]),
        ["relu"] = ("relu", [3]),
        ["tanh"] = ("tanh", [3]),
        ["sigmoid"] = ("sigmoid", [3]),
        ["gelu"] = ("gelu(tanh)", [3]),
        ["leakyrelu"] = ("leakyrelu(0.2)", [3]),
        ["layernorm"] = ("layernorm(eps=0.001)", [4, 6]),
        ["embedding"] = ("embedding(8,vocab=12)", [5]),
        ["posembedding"] = ("posembedding(context=7)", [5, 4]),
        ["attention"] = ("attention(2,causal=false,dropout=0.1)", [5, 4]),
        ["residual"] = ("residual(layernorm,attention(2),residual(linear(4),relu))", [5, 4]),
        ["lstm"] = ("lstm(6,layers=2)", [5, 3]),
        ["gru"] = ("gru(6)", [5, 3]),
        ["last"] = ("last", [5, 3]),
    };

    public static TheoryData<string> Words() => new(Architecture.Usages.Select(u => u.Split('(', '[')[0]));

    [Fact]
    public void EveryLayerRecordWithAWordIsRegistered()
    {
        var words = Architecture.Usages.Select(u => u.Split('(', '[')[0]).Order().ToList();
        var records = typeof(LayerSpec).Assembly.GetTypes().Where(t => typeof(IRegistered<LayerWord>).IsAssignableFrom(t) && !t.IsAbstract).ToList();
        Assert.Equal(records.Count, words.Count);
        Assert.Equal(Examples.Keys.Order(), words); // a new word needs an example here
    }

    [Theory]
    [MemberData(nameof(Words))]
    public void EachWordParsesAndFormatsBackToTheSameText(string word)
    {
        var (text, input) = Examples[word];
        using var model = Architecture.Parse(text, new TensorShape(input));
        Assert.Equal(text, Architecture.Format(model));
        using var rebuilt = Sequential.FromSpecs(LayerSpec.FromJson(LayerSpec.ToJson(model.Specs)), model.InputShape);
        Assert.Equal(text, Architecture.Format(rebuilt));
    }

    [Fact]
    public void DefaultArgumentsAreLeftOutWhenFormatted()
    {
        using var model = Architecture.Parse("conv(4,3,stride=1,padding=0),maxpool(2,stride=2),leakyrelu(0.01),gelu,layernorm(eps=0.00001)", new TensorShape(1, 8, 8));
        Assert.Equal("conv(4,3),maxpool(2),leakyrelu,gelu,layernorm", Architecture.Format(model));
    }

    [Theory]
    [InlineData("relu(2)", "relu takes 0 positional arguments, got 1")]
    [InlineData("leakyrelu(1,2)", "leakyrelu takes 0 to 1 positional arguments, got 2")]
    [InlineData("linear(4,bias=false)", "linear has no argument 'bias'")]
    [InlineData("maxpool(2,stride=0)", "stride '0' is not a whole number >= 1")]
    [InlineData("linear(4),", "a layer is missing")]
    [InlineData("linear(4", "unbalanced '('")]
    [InlineData("gelu(erf)", "gelu takes no argument or tanh (GPT-2's approximation), got 'erf'")]
    [InlineData("last", "last takes a sequence (N, T, H) but gets (N, 3)")]
    [InlineData("lstm(4)", "lstm takes a sequence (N, T, features) but gets (N, 3)")]
    [InlineData("embedding(4)", "embedding needs vocab=V")]
    [InlineData("attention(2)", "attention takes a sequence (N, T, D) but gets (N, 3)")]
    public void BadLayerTextIsNamed(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => Architecture.Parse(text, new TensorShape(3)));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("attention(3)", "3 heads do not divide the width 16")]
    [InlineData("attention(2,causal=maybe)", "causal 'maybe' is not true or false")]
    [InlineData("posembedding(context=4)", "posembedding's table of 4 positions is shorter than the sequences' 6 steps")]
    [InlineData("residual(linear(32))", "a residual block must give back its input's shape")]
    [InlineData("residual()", "residual needs its layers inside the parentheses")]
    [InlineData("residual(layernorm,attention(3))", "3 heads do not divide the width 16")]
    public void BadSequenceLayersAreNamed(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => Architecture.Parse(text, new TensorShape(6, 16)));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void HeadsWiderThanTheKernelsHoldAreRefused()
    {
        using var widest = Architecture.Parse("attention(1)", new TensorShape(4, 128));
        var error = Assert.Throws<FormatException>(() => Architecture.Parse("attention(1)", new TensorShape(4, 130)));
        Assert.Contains("heads of 130 columns are wider than 128: use more heads", error.Message);
    }

    [Fact]
    public void ResidualParametersNestAsPyTorchNamesThem()
    {
        using var model = Architecture.Parse("linear(8),residual(layernorm,attention(2)),residual(linear(4),relu,linear(8))", new TensorShape(5, 3));
        Assert.Equal(
            ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.1.qkv.weight", "1.1.qkv.bias", "1.1.proj.weight", "1.1.proj.bias",
             "2.0.weight", "2.0.bias", "2.2.weight", "2.2.bias"],
            model.ParameterLayout.Select(p => p.Name));
        Assert.Equal([24, 8], model.ParameterLayout.Single(p => p.Name == "1.1.qkv.weight").Shape.ToArray());
    }
}
