using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gpu.Cli;

/// <summary>What `predict` needs of a model: its columns, its loss, and outputs for rows of raw features.</summary>
internal interface IPredictor : IDisposable
{
    ModelInfo Info { get; }

    /// <summary>Values per output row.</summary>
    int OutputWidth { get; }

    /// <summary>Raw outputs (logits for classifiers), row-major, for rows of raw features (standardisation included).</summary>
    float[] Predict(float[] features);
}

/// <summary>Opens what `predict` and `evaluate` run: an exported .onnx file on ONNX Runtime, else a model file on a device.</summary>
internal static class Predictors
{
    public static bool IsOnnx(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    public static IPredictor Open(string path, string? deviceName)
    {
        if (IsOnnx(path))
            return new OnnxPredictor(path);
        var device = Device.Create(deviceName);
        try
        {
            return new ModelFilePredictor(ModelFile.Load(path, device), device);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }
}

/// <summary>A model file of this project, run on a device it owns.</summary>
internal sealed class ModelFilePredictor(SavedModel saved, Device device) : IPredictor
{
    public ModelInfo Info => saved.Info;

    public int OutputWidth => saved.Model.OutputFeaturesCount;

    public float[] Predict(float[] features)
    {
        var outputs = saved.Model.Predict(Info.Standardizer is { } s ? s.Transform(features) : features);
        Info.TargetStandardizer?.InverseInPlace(outputs); // back to the targets' units
        return outputs;
    }

    public void Dispose()
    {
        saved.Dispose();
        device.Dispose();
    }
}

/// <summary>An exported ONNX model, run by ONNX Runtime on the CPU: the deployment artefact, checked with the same command.</summary>
internal sealed class OnnxPredictor : IPredictor
{
    private const int BatchSize = 4096;
    private readonly InferenceSession session;
    private readonly int[] inputShape;

    public OnnxPredictor(string path)
    {
        InputFile.Require(path);
        try
        {
            session = new InferenceSession(path, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
        }
        catch (OnnxRuntimeException e)
        {
            throw new UsageException($"{path}: ONNX Runtime cannot load it: {e.Message.Split('\n')[0]}");
        }

        var metadata = session.ModelMetadata.CustomMetadataMap;
        string Get(string key) => metadata.TryGetValue(key, out var value)
            ? value
            : throw new UsageException($"{path}: the ONNX model has no '{key}' in its metadata; predict reads models exported by `gpu export`.");
        Info = new ModelInfo(Get("loss"), Strings(Get("feature_names")), Strings(Get("target_names")));
        inputShape = [.. session.InputMetadata["input"].Dimensions.Skip(1)];
        OutputWidth = session.OutputMetadata["output"].Dimensions.Skip(1).Aggregate(1, (a, d) => a * d);
    }

    public ModelInfo Info { get; }

    public int OutputWidth { get; }

    public float[] Predict(float[] features)
    {
        int width = inputShape.Aggregate(1, (a, d) => a * d);
        int rows = features.Length / width;
        var result = new float[(long)rows * OutputWidth];
        for (int start = 0; start < rows; start += BatchSize)
        {
            int count = Math.Min(BatchSize, rows - start);
            var batch = new DenseTensor<float>(features.AsMemory(start * width, count * width), [count, .. inputShape]);
            using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("input", batch)], ["output"]);
            outputs.First().AsEnumerable<float>().ToArray().CopyTo(result, (long)start * OutputWidth);
        }

        return result;
    }

    public void Dispose() => session.Dispose();

    private static List<string> Strings(string json) => JsonSerializer.Deserialize<List<string>>(json) ?? [];
}
