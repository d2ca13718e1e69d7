using System.Buffers.Binary;
using System.Text;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>The safetensors reader and writer (docs/training.md, "Model files") and model files.</summary>
[Collection(DeviceCollection.Name)]
public sealed class CheckpointTests(DeviceFixture devices) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-ckpt-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    /// <summary>A file from a raw header string and data length (padding added like a writer would).</summary>
    private static byte[] File(string header, int dataBytes, bool pad = true, long? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        int padding = pad ? (8 - json.Length % 8) % 8 : 0;
        var bytes = new byte[8 + json.Length + padding + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredLength ?? json.Length + padding));
        json.CopyTo(bytes, 8);
        for (int i = 0; i < padding; i++)
            bytes[8 + json.Length + i] = (byte)' ';
        return bytes;
    }

    private static string Reject(byte[] bytes) =>
        Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Parse("bad.safetensors", bytes)).Message;

    [Fact]
    public void RoundTripsTensorsAndMetadata()
    {
        string path = PathOf("t.safetensors");
        var a = new NamedTensor("0.weight", [2, 3], [1, 2, 3, 4, 5, 6]);
        var b = new NamedTensor("0.bias", [2], [-1.5f, float.Epsilon]);
        var empty = new NamedTensor("empty", [0, 4], []);
        SafeTensors.Write(path, [a, b, empty], new Dictionary<string, string> { ["note"] = "ünïcode ✓" });
        var file = SafeTensors.Read(path);
        Assert.Equal(a.Data, file.Tensors["0.weight"].Data);
        Assert.Equal([2, 3], file.Tensors["0.weight"].Shape);
        Assert.Equal(b.Data, file.Tensors["0.bias"].Data);
        Assert.Empty(file.Tensors["empty"].Data);
        Assert.Equal("ünïcode ✓", file.Metadata["note"]);
        // The header length is a multiple of 8, as the format requires for alignment.
        var bytes = System.IO.File.ReadAllBytes(path);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes) % 8);
    }

    [Fact]
    public void ReadsFilesWrittenByPyTorchsSide()
    {
        var file = SafeTensors.Read(Fixture.PathOf("reference_init.safetensors"));
        Assert.Equal([20, 10], file.Tensors["0.weight"].Shape);
        Assert.Equal([1], file.Tensors["2.bias"].Shape);
        Assert.StartsWith("torch", file.Metadata["source"]);
    }

    [Fact]
    public void RejectsShortFiles()
    {
        Assert.Contains("fewer than the 8-byte header length", Reject([1, 2, 3]));
        Assert.Contains("fewer than the 8-byte", Reject([]));
    }

    [Fact]
    public void RejectsOversizedHeaders()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100_000_001);
        Assert.Contains("exceeds the limit", Reject(bytes));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        Assert.Contains("exceeds the limit", Reject(bytes));
    }

    [Fact]
    public void RejectsAHeaderPastTheEndOfTheFile()
    {
        Assert.Contains("runs past the end", Reject(File("{}", 0, declaredLength: 64)));
    }

    [Fact]
    public void RejectsInvalidUtf8AndJson()
    {
        var bytes = File("{\"a\":1}", 0);
        bytes[9] = 0xFF;
        Assert.Contains("not valid UTF-8", Reject(bytes));
        Assert.Contains("not valid JSON", Reject(File("{\"x\": ", 0)));
        Assert.Contains("not a JSON object", Reject(File("[1, 2]", 0)));
    }

    [Fact]
    public void RejectsOverlappingAndGappedTensors()
    {
        const string overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        Assert.Contains("overlaps", Reject(File(overlap, 12)));
        const string gap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        Assert.Contains("gap of 4 bytes", Reject(File(gap, 12)));
    }

    [Fact]
    public void RejectsWrongShapesAndSizes()
    {
        const string wrongShape = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
        Assert.Contains("needs 12 bytes but data_offsets [0, 8] hold 8", Reject(File(wrongShape, 8)));
        const string overflow = "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}";
        Assert.Contains("overflows", Reject(File(overflow, 8)));
        const string negative = "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}";
        Assert.Contains("non-negative", Reject(File(negative, 4)));
        const string backwards = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}";
        Assert.Contains("end before they begin", Reject(File(backwards, 4)));
        const string unknown = "{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Assert.Contains("unknown dtype", Reject(File(unknown, 4)));
        const string missing = "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}";
        Assert.Contains("needs a string dtype", Reject(File(missing, 4)));
    }

    [Fact]
    public void RejectsDataThatDoesNotEndAtTheEndOfTheFile()
    {
        const string one = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Assert.Contains("4 bytes after the last tensor", Reject(File(one, 8)));
        Assert.Contains("need 4 bytes of data but the file holds 2", Reject(File(one, 2)));
    }

    [Fact]
    public void RejectsBadMetadataAndDuplicates()
    {
        Assert.Contains("not a string", Reject(File("{\"__metadata__\":{\"a\":1}}", 0)));
        Assert.Contains("appears twice", Reject(File("{\"__metadata__\":{},\"__metadata__\":{}}", 0)));
        const string other = "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
        Assert.Contains("only F32 is supported", Reject(File(other, 8)));
    }

    [Fact]
    public void WritesAtomicallyAndNeverLosesTheOldFile()
    {
        string path = PathOf("model.safetensors");
        SafeTensors.Write(path, [new NamedTensor("w", [1], [42f])]);
        var before = System.IO.File.ReadAllBytes(path);
        // A writer that fails part-way (bad tensor after a good one) leaves the old file in place.
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, [new NamedTensor("w", [1], [1f]), new NamedTensor("v", [2], [1f])]));
        Assert.Equal(before, System.IO.File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(folder));
    }

    [Fact]
    public void ModelFilesRebuildTheModelFromTheFileAlone()
    {
        string path = PathOf("mlp.safetensors");
        var standardizer = new Standardizer([1f, 2f, 3f], [0.5f, 1f, 2f]);
        using (var model = Sequential.Mlp(3, [5, 4], 2).To(devices.Fast, 11))
        {
            ModelFile.Save(path, model, new ModelInfo("mse", ["a", "b", "c"], ["y1", "y2"], standardizer,
                new Dictionary<string, string> { ["epochs"] = "7" }));
        }

        using var saved = ModelFile.Load(path, devices.Fast);
        Assert.Equal([3, 5, 4, 2], saved.Model.LayerWidths);
        Assert.Equal(["a", "b", "c"], saved.Info.FeatureNames);
        Assert.Equal(["y1", "y2"], saved.Info.TargetNames);
        Assert.Equal(standardizer.Mean, saved.Info.Standardizer!.Mean);
        Assert.Equal("7", saved.Info.Extra!["epochs"]);
        using var again = Sequential.Mlp(3, [5, 4], 2).To(devices.Fast, 11);
        foreach (var (name, values) in again.StateDict())
            Assert.Equal(values, saved.Model.StateDict()[name]);
        var raw = SafeTensors.Read(path);
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"], raw.Tensors.Keys);
        Assert.Equal([5, 3], raw.Tensors["0.weight"].Shape);
    }

    [Fact]
    public void WeightsThatDoNotMatchTheModelAreRejected()
    {
        string path = PathOf("w.safetensors");
        using var model = Sequential.Mlp(3, [5], 1).To(devices.Fast);
        SafeTensors.Write(path, [new NamedTensor("0.weight", [5, 3], new float[15])]);
        var missing = Assert.Throws<ArgumentException>(() => ModelFile.LoadWeights(path, model));
        Assert.Contains("missing 0.bias, 2.weight, 2.bias", missing.Message);
        SafeTensors.Write(path, ModelFileTensors(model).Select(t => t.Name == "0.weight" ? t with { Shape = [3, 5] } : t));
        var shape = Assert.Throws<ArgumentException>(() => ModelFile.LoadWeights(path, model));
        Assert.Contains("'0.weight' has shape (3, 5) but the model expects (5, 3)", shape.Message);
        var noArchitecture = Assert.Throws<SafeTensorsFormatException>(() => ModelFile.Load(Fixture.PathOf("reference_init.safetensors"), devices.Fast));
        Assert.Contains("no architecture", noArchitecture.Message);
    }

    private static IEnumerable<NamedTensor> ModelFileTensors(Sequential model) =>
        model.Parameters().Select(p => new NamedTensor(p.Name, p.Shape.ToArray(), p.Data.ToArray())).ToList();
}
