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
/// <item>each layer as the nodes its record writes (<see cref="LayerSpec.ToOnnx"/>): Gemm (Linear),
/// Conv, MaxPool, AveragePool, Flatten, Relu, LeakyRelu, Tanh, Sigmoid, and GELU as its exact erf
/// expansion <c>0.5 x (1 + Erf(x / sqrt 2))</c> (ONNX's Gelu op needs opset 20); Dropout is the
/// identity in inference and is left out;</item>
/// <item>outputs <c>output</c> (raw outputs or logits) and, for losses whose entry names an output
/// transform (bce, ce), <c>probabilities</c> (Sigmoid, Softmax over the classes);</item>
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

    // A module of the user's own may have no record at all (Spec throws NotSupportedException).
    private static LayerSpec? Record(Module module)
    {
        try
        {
            return module.Spec;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>The serialised ONNX model.</summary>
    public static byte[] ToBytes(Sequential model, ModelInfo info) => Build(model, info).ToByteArray();

    private static ModelProto Build(Sequential model, ModelInfo info)
    {
        var graph = new OnnxGraph(model.Parameters().ToDictionary(p => p.Name, p => p));
        var input = model.InputShape.ToArray();
        string x = graph.Input("input", input);

        if (info.Standardizer is { } s)
        {
            // (x - mean) / std per feature, in the input's shape (a CSV row is one sample, flattened).
            x = graph.Node("Sub", [x, graph.Constant("standardize_mean", input, s.Mean)], "standardized_centered");
            x = graph.Node("Div", [x, graph.Constant("standardize_std", input, s.Std)], "standardized");
        }

        for (int i = 0; i < model.Modules.Count; i++)
        {
            var module = model.Modules[i];
            x = Record(module)?.ToOnnx(graph.Layer($"{i}", model.ShapeBefore(i)), x)
                ?? throw new NotSupportedException($"ONNX export does not cover layer {i}, {module} ({module.TypeName}): it has no ONNX form.");
        }

        if (info.TargetStandardizer is { } t)
        {
            // A model trained on standardised targets answers in the targets' units: y * std + mean.
            int[] outputShape = model.OutputShape.ToArray();
            x = graph.Node("Mul", [x, graph.Constant("target_std", outputShape, t.Std)], "target_scaled");
            x = graph.Node("Add", [x, graph.Constant("target_mean", outputShape, t.Mean)], "target_units");
        }

        graph.Output(graph.Rename(x, "output"), model.OutputShape.ToArray());
        switch (Registry<LossEntry>.Find(info.Loss)?.Output)
        {
            case LossOutput.Sigmoid:
                graph.Output(graph.Node("Sigmoid", ["output"], "probabilities"), model.OutputShape.ToArray());
                break;
            case LossOutput.Softmax:
                // Over the last axis: the classes, or each position's vocabulary for per-position logits (N, T, V).
                graph.Output(graph.Node("Softmax", ["output"], "probabilities", OnnxGraph.Attribute("axis", -1L)), model.OutputShape.ToArray());
                break;
        }

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
}
