using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gpu.Training;

/// <summary>
/// A serialisable description of one layer, and the registry entry of its type: each layer type has
/// its own record (e.g. <see cref="Conv2dSpec"/>), marked with PyTorch's class name through
/// <see cref="LayerTypeAttribute"/>, that holds everything about the layer's names in one place:
/// <list type="bullet">
/// <item>its word in the one-line model text, how that word is parsed and written back
/// (<see cref="LayerWord"/>, <see cref="Format"/>; see <see cref="Architecture"/>);</item>
/// <item>the module it rebuilds (<see cref="Create"/>), whose class names its parameters;</item>
/// <item>its ONNX nodes (<see cref="ToOnnx"/>).</item>
/// </list>
/// Model files store a model as the list of these records (<see cref="ToJson"/>, <see cref="FromJson"/>),
/// so adding a layer type touches no central list: the registry finds every record in this assembly,
/// and <see cref="Register{TSpec}"/> adds others.
/// </summary>
public abstract record LayerSpec
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly Dictionary<string, Type> Registry = Discover();

    /// <summary>PyTorch's class name of the layer, e.g. "Conv2d".</summary>
    public string Type => GetType().GetCustomAttribute<LayerTypeAttribute>()?.Name
        ?? throw new InvalidOperationException($"{GetType().Name} has no [LayerType] attribute.");

    /// <summary>A new module of this description (not yet on a device).</summary>
    public abstract Module Create();

    /// <summary>The layer in the one-line model text, e.g. <c>conv(16,3,padding=1)</c>; by default its bare word.</summary>
    public virtual string Format() => Architecture.WordOf(GetType());

    /// <summary>
    /// Writes the layer's ONNX nodes after <paramref name="input"/> and returns the name of their
    /// output; null when the layer has no ONNX form (the export then names it).
    /// </summary>
    internal virtual string? ToOnnx(OnnxLayer layer, string input) => null;

    /// <summary>The layer types the registry knows, by PyTorch name.</summary>
    public static IReadOnlyCollection<string> KnownTypes
    {
        get
        {
            lock (Registry)
                return [.. Registry.Keys.Order()];
        }
    }

    /// <summary>Adds a layer record defined outside this assembly.</summary>
    public static void Register<TSpec>()
        where TSpec : LayerSpec
    {
        string name = typeof(TSpec).GetCustomAttribute<LayerTypeAttribute>()?.Name
            ?? throw new ArgumentException($"{typeof(TSpec).Name} needs a [LayerType(\"...\")] attribute.");
        lock (Registry)
            Registry[name] = typeof(TSpec);
    }

    /// <summary>The records as a JSON array, each object's first field its "type".</summary>
    public static string ToJson(IEnumerable<LayerSpec> specs)
    {
        var array = new JsonArray();
        foreach (var spec in specs)
        {
            var fields = JsonSerializer.SerializeToNode(spec, spec.GetType(), Json)!.AsObject();
            var item = new JsonObject { ["type"] = spec.Type };
            foreach (var (key, value) in fields.ToList())
            {
                if (key == "type")
                    continue;
                fields.Remove(key);
                item[key] = value;
            }

            array.Add(item);
        }

        return array.ToJsonString();
    }

    /// <summary>
    /// Reads what <see cref="ToJson"/> wrote. Throws <see cref="JsonException"/> for malformed JSON
    /// and <see cref="NotSupportedException"/> for a layer type the registry does not know.
    /// </summary>
    public static List<LayerSpec> FromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Array)
            throw new JsonException("the architecture is not a JSON array of layers.");
        var specs = new List<LayerSpec>();
        foreach (var element in document.RootElement.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
                throw new JsonException($"layer {specs.Count} has no \"type\".");
            string name = typeElement.GetString()!;
            Type? type;
            lock (Registry)
                Registry.TryGetValue(name, out type);
            if (type is null)
                throw new NotSupportedException($"layer {specs.Count} has unknown type '{name}' (known: {string.Join(", ", KnownTypes)}).");
            specs.Add((LayerSpec)(element.Deserialize(type, Json) ?? throw new JsonException($"layer {specs.Count} is empty.")));
        }

        return specs;
    }

    private static Dictionary<string, Type> Discover() =>
        typeof(LayerSpec).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(LayerSpec)) && !t.IsAbstract && t.GetCustomAttribute<LayerTypeAttribute>() is not null)
            .ToDictionary(t => t.GetCustomAttribute<LayerTypeAttribute>()!.Name);
}

/// <summary>
/// A layer's word in the one-line model text (the command line's <c>--model</c>), the registry entry
/// of its <see cref="LayerSpec"/> record (<see cref="IRegistered{TEntry}"/>).
/// </summary>
/// <param name="Name">The word, e.g. <c>conv</c>.</param>
/// <param name="Usage">How the word is written, for help texts, e.g. <c>conv(out,kernel[,stride=S][,padding=P])</c>.</param>
/// <param name="Parse">
/// The layer a text describes, for samples of a given shape (input channels and features follow from
/// it) and the data's vocabulary; throws <see cref="FormatException"/> for bad arguments and
/// <see cref="Runtime.ShapeMismatchException"/> when the layer cannot take the input.
/// </param>
public sealed record LayerWord(string Name, string Usage, Func<CallText, LayerInput, LayerSpec> Parse) : RegistryEntry(Name, Usage);

/// <summary>
/// What a layer word is parsed against: the sample shape flowing in (its channels, features or
/// sequence length follow from it) and, for token data, the data's vocabulary (an embedding's
/// default size). It reads like the shape itself (<see cref="Rank"/>, the indexer).
/// </summary>
/// <param name="Shape">The sample shape the layer takes.</param>
/// <param name="Vocabulary">The token data's vocabulary, or null for data of features.</param>
public sealed record LayerInput(Runtime.TensorShape Shape, int? Vocabulary = null)
{
    public int Rank => Shape.Rank;

    public int Length => Shape.Length;

    public int this[int axis] => Shape[axis];

    public static implicit operator Runtime.TensorShape(LayerInput input) => input.Shape;
}

/// <summary>Names a <see cref="LayerSpec"/> record by PyTorch's class name of its layer.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class LayerTypeAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
