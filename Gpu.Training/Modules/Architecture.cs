using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A model written as one line, the command line's <c>--model</c>: layers separated by commas,
/// lower case, each a word with optional arguments in parentheses (<see cref="CallText"/>). Input
/// channels and features follow from the shape flowing in, so only what changes is written, e.g.
/// <c>conv(16,3,padding=1),relu,maxpool(2),flatten,linear(10)</c> for (1, 8, 8) images. The words
/// are the <see cref="LayerWord"/> entries of the layer records (<see cref="Usages"/> lists them);
/// each record parses and writes its own. Errors name the offending layer and where
/// it starts in the text.
/// </summary>
public static class Architecture
{
    /// <summary>Every word as it is written, e.g. <c>conv(out,kernel[,stride=S][,padding=P])</c>, in alphabetical order.</summary>
    public static IReadOnlyList<string> Usages => [.. Registry<LayerWord>.All.Select(w => w.Usage)];

    /// <summary>
    /// Builds the model <paramref name="text"/> describes for samples of <paramref name="inputShape"/>
    /// (not yet on a device); <paramref name="vocabulary"/> is token data's, an embedding's default size.
    /// </summary>
    public static Sequential Parse(string text, TensorShape inputShape, int? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        var (specs, _) = ParseLayers(text, new LayerInput(inputShape, vocabulary));
        if (specs.Count == 0)
            throw new FormatException("the model is empty: write its layers separated by commas, e.g. linear(20),relu,linear(1).");
        return new Sequential(inputShape, [.. specs.Select(spec => spec.Create())]);
    }

    /// <summary>
    /// The layer records of a comma-separated list for samples of <paramref name="input"/>'s shape,
    /// and the shape the last one gives: a model's layers, or a block's (<c>residual(...)</c>).
    /// </summary>
    public static (List<LayerSpec> Specs, TensorShape Output) ParseLayers(string text, LayerInput input)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(input);
        var specs = new List<LayerSpec>();
        var shape = input.Shape;
        foreach (var item in CallText.Split(text, "layer"))
        {
            try
            {
                var spec = Registry<LayerWord>.Get(item.Word, "layer").Parse(item, input with { Shape = shape });
                using var module = spec.Create();
                shape = module.OutputShapeFor(shape);
                specs.Add(spec);
            }
            catch (Exception e) when (e is ShapeMismatchException or ArgumentException or FormatException)
            {
                throw new FormatException($"layer {item.Describe(text)}: {e.Message}", e);
            }
        }

        return (specs, shape);
    }

    /// <summary>The one-line form of a model's layers (what <see cref="Parse"/> reads back).</summary>
    public static string Format(Sequential model) => string.Join(",", model.Modules.Select(m => m.Spec.Format()));

    /// <summary>The word of a layer record type.</summary>
    internal static string WordOf(Type spec) =>
        Registry<LayerWord>.Of(spec)?.Name ?? throw new NotSupportedException($"{spec.Name} has no word in the model text (it has no LayerWord entry).");
}
