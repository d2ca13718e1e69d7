using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Gpu.Runtime;
using Onnx;

namespace Gpu.Training;

/// <summary>
/// Writes a trained model as an ONNX model (opset 17, IR version 8) in PyTorch's operator forms, so
/// that ONNX Runtime (and ML.NET, which runs on it) serves it without this library:
/// <list type="bullet">
/// <item>one input <c>input</c>, float, shape (batch, ...the model's input shape) with a symbolic
/// batch dimension; raw features in: a saved standardisation becomes <c>Sub</c> and <c>Div</c> nodes;</item>
/// <item>layers as Gemm (Linear), Conv, MaxPool, AveragePool, Flatten, Relu, LeakyRelu, Tanh,
/// Sigmoid, and GELU as its exact erf expansion <c>0.5 x (1 + Erf(x / sqrt 2))</c> (ONNX's Gelu op
/// needs opset 20); Dropout is the identity in inference and is left out;</item>
/// <item>outputs <c>output</c> (raw outputs or logits) and, for bce and ce models,
/// <c>probabilities</c> (Sigmoid, Softmax over the classes);</item>
/// <item>the model file's metadata (feature and target names, loss, architecture, training
/// information) in <c>metadata_props</c>; producer name and version set.</item>
/// </list>
/// The file is written atomically. The protobuf classes are generated from ONNX's own onnx.proto.
/// </summary>
public static class OnnxExport
{
    /// <summary>The opset the graph is written for.</summary>
    public const int Opset = 17;

    /// <summary>ONNX's IR version 8 (onnx 1.12), which ONNX Runtime 1.31 reads.</summary>
    public const long IrVersion = 8;

    public const string ProducerName = "gpu-training";

    /// <summary>Exports a model file (from <see cref="ModelFile.Save"/> or a checkpoint) to an ONNX file.</summary>
    public static void Save(string modelPath, string onnxPath, Device device)
    {
        using var saved = ModelFile.Load(modelPath, device);
        Save(onnxPath, saved.Model, saved.Info);
    }

    /// <summary>Exports a model to an ONNX file, atomically.</summary>
    public static void Save(string path, Sequential model, ModelInfo info)
    {
        byte[] bytes = ToBytes(model, info);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The serialised ONNX model.</summary>
    public static byte[] ToBytes(Sequential model, ModelInfo info) => Build(model, info).ToByteArray();

    private static ModelProto Build(Sequential model, ModelInfo info)
    {
        var graph = new GraphBuilder(model.Parameters().ToDictionary(p => p.Name, p => p));
        var input = model.InputShape.ToArray();
        string x = graph.Input("input", input);

        if (info.Standardizer is { } s)
        {
            // (x - mean) / std per feature, in the input's shape (a CSV row is one sample, flattened).
            x = graph.Node("Sub", [x, graph.Constant("standardize_mean", input, s.Mean)], "standardized_centered");
            x = graph.Node("Div", [x, graph.Constant("standardize_std", input, s.Std)], "standardized");
        }

        for (int i = 0; i < model.Modules.Count; i++)
            x = graph.Layer(model.Modules[i], i, x);

        graph.Output(graph.Rename(x, "output"), model.OutputShape.ToArray());
        if (info.Loss == "bce")
            graph.Output(graph.Node("Sigmoid", ["output"], "probabilities"), model.OutputShape.ToArray());
        else if (info.Loss == "ce")
            graph.Output(graph.Node("Softmax", ["output"], "probabilities", Attribute("axis", 1)), model.OutputShape.ToArray());

        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Domain = "gpu.training",
            ModelVersion = 1,
            DocString = $"{model.Summary}, {info.Loss} loss; exported from a model trained with Gpu.Training.",
            Graph = graph.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in ModelFile.Metadata(model, info).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            proto.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return proto;
    }

    private static AttributeProto Attribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static AttributeProto Attribute(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.Add(values);
        return attribute;
    }

    /// <summary>Builds the graph node by node, naming values after the layer that makes them (PyTorch's style).</summary>
    private sealed class GraphBuilder(IReadOnlyDictionary<string, Parameter> parameters)
    {
        private int nodes;

        public GraphProto Graph { get; } = new() { Name = "gpu_training_model" };

        public string Input(string name, int[] sample)
        {
            Graph.Input.Add(Value(name, sample));
            return name;
        }

        public void Output(string name, int[] sample) => Graph.Output.Add(Value(name, sample));

        public string Layer(Module module, int index, string x) => module switch
        {
            Linear => Node("Gemm", [x, Weight($"{index}.weight"), .. Bias($"{index}.bias")], $"/{index}/Gemm", Attribute("transB", 1)),
            Conv2d c => Node("Conv", [x, Weight($"{index}.weight"), .. Bias($"{index}.bias")], $"/{index}/Conv",
                Attribute("kernel_shape", c.KernelSize, c.KernelSize), Attribute("strides", c.Stride, c.Stride),
                Attribute("pads", c.Padding, c.Padding, c.Padding, c.Padding), Attribute("dilations", 1, 1), Attribute("group", 1L)),
            MaxPool2d p => Node("MaxPool", [x], $"/{index}/MaxPool", Attribute("kernel_shape", p.KernelSize, p.KernelSize), Attribute("strides", p.Stride, p.Stride)),
            AvgPool2d p => Node("AveragePool", [x], $"/{index}/AveragePool", Attribute("kernel_shape", p.KernelSize, p.KernelSize), Attribute("strides", p.Stride, p.Stride)),
            Flatten => Node("Flatten", [x], $"/{index}/Flatten", Attribute("axis", 1L)),
            ReLU => Node("Relu", [x], $"/{index}/Relu"),
            LeakyReLU l => Node("LeakyRelu", [x], $"/{index}/LeakyRelu", Attribute("alpha", l.NegativeSlope)),
            Tanh => Node("Tanh", [x], $"/{index}/Tanh"),
            Sigmoid => Node("Sigmoid", [x], $"/{index}/Sigmoid"),
            GELU => Gelu(x, index),
            Dropout => x, // the identity at inference, as torch.onnx.export leaves it out
            _ => throw new NotSupportedException($"ONNX export does not cover layer {index}, {module} ({module.TypeName}); it covers Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, ReLU, LeakyReLU, Tanh, Sigmoid and GELU."),
        };

        public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = $"{op}_{nodes++}" };
            node.Input.Add(inputs);
            node.Output.Add(output);
            node.Attribute.Add(attributes);
            Graph.Node.Add(node);
            return output;
        }

        /// <summary>Gives the last value a public name: an Identity node when it is a graph input or already named.</summary>
        public string Rename(string value, string name) => value == name ? value : Node("Identity", [value], name);

        public string Constant(string name, int[] shape, float[] values)
        {
            Graph.Initializer.Add(Tensor(name, shape, values));
            return name;
        }

        // GELU(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form PyTorch uses by default.
        private string Gelu(string x, int index)
        {
            string scaled = Node("Div", [x, Scalar($"/{index}/sqrt2", MathF.Sqrt(2f))], $"/{index}/Div");
            string erf = Node("Erf", [scaled], $"/{index}/Erf");
            string shifted = Node("Add", [erf, Scalar($"/{index}/one", 1f)], $"/{index}/Add");
            string product = Node("Mul", [x, shifted], $"/{index}/Mul");
            return Node("Mul", [product, Scalar($"/{index}/half", 0.5f)], $"/{index}/Mul_1");
        }

        private string Scalar(string name, float value) => Constant(name, [], [value]);

        private string Weight(string name)
        {
            var p = parameters[name];
            return Constant(name, p.Shape.ToArray(), p.Data.ToArray());
        }

        private string[] Bias(string name) => parameters.ContainsKey(name) ? [Weight(name)] : [];

        private static TensorProto Tensor(string name, int[] shape, float[] values)
        {
            var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            tensor.Dims.Add(shape.Select(d => (long)d));
            var bytes = new byte[values.Length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            if (!BitConverter.IsLittleEndian)
            {
                for (int i = 0; i < bytes.Length; i += 4)
                    Array.Reverse(bytes, i, 4);
            }

            tensor.RawData = ByteString.CopyFrom(bytes); // ONNX stores raw data little-endian
            return tensor;
        }

        private static ValueInfoProto Value(string name, int[] sample)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            foreach (int d in sample)
                shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            };
        }
    }
}
