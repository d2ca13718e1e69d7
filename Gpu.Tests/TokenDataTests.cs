using System.Buffers.Binary;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Token data as `train --text` and `--tokens` read it: bytes and llm.c's uint16 files, cut into
/// windows [i T, i T + T) whose targets are the next tokens, per file, the tail held out for
/// validation; checked against windows cut by hand from the same tokens.
/// </summary>
public sealed class TokenDataTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-tokens-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void TextWindowsHoldEachRunOfTTokensAndTheNextOnes()
    {
        var bytes = Enumerable.Range(0, 23).Select(i => (byte)(i * 11 % 256)).ToArray();
        string file = Write("a.txt", bytes);
        var stream = TokenStream.FromText([file]);
        Assert.Equal(TokenStream.BytesKind, stream.Kind);
        Assert.Equal(256, stream.Vocabulary);
        Assert.Equal(bytes.Max(), stream.LargestId);

        var windows = new TokenWindows(stream, 5);
        Assert.Equal(4, windows.Count); // floor((23 - 1) / 5): the last token is only a target
        var (inputs, targets) = Copy(windows);
        for (int w = 0; w < 4; w++)
        {
            for (int t = 0; t < 5; t++)
            {
                Assert.Equal(bytes[w * 5 + t], inputs[w * 5 + t]);
                Assert.Equal(bytes[w * 5 + t + 1], targets[w * 5 + t]);
            }
        }
    }

    [Fact]
    public void WindowsNeverCrossFromOneFileIntoTheNext()
    {
        string a = Write("a.txt", "abcdefg"u8.ToArray()), b = Write("b.txt", "HIJKLMNOPQ"u8.ToArray());
        var windows = new TokenWindows(TokenStream.FromText([a, b]), 3);
        Assert.Equal(2 + 3, windows.Count); // floor(6 / 3) + floor(9 / 3)
        var (inputs, targets) = Copy(windows);
        Assert.Equal("abcdefHIJKLMNOP", new string([.. inputs.Select(v => (char)v)]));
        Assert.Equal("bcdefgIJKLMNOPQ", new string([.. targets.Select(v => (char)v)]));
    }

    [Fact]
    public void LlmcFilesAreReadAfterTheirHeader()
    {
        ushort[] tokens = [50256, 7, 3000, 12, 65535, 0, 42];
        string file = WriteLlmc("t.bin", tokens);
        var stream = TokenStream.FromLlmc([file]);
        Assert.Equal(TokenStream.Uint16Kind, stream.Kind);
        Assert.Equal(tokens.Length, stream.Count);
        Assert.Equal(65535, stream.LargestId);
        Assert.Equal(65536, stream.Vocabulary);

        var (inputs, targets) = Copy(new TokenWindows(stream, 3));
        Assert.Equal(tokens[..6].Select(t => (float)t), inputs);
        Assert.Equal(tokens[1..7].Select(t => (float)t), targets);
    }

    [Fact]
    public void TheValidationSplitIsTheTailOfTheWindows()
    {
        var bytes = Enumerable.Range(0, 101).Select(i => (byte)i).ToArray();
        var windows = new TokenWindows(TokenStream.FromText([Write("a.txt", bytes)]), 10);
        var (train, validation) = windows.SplitTail(0.25);
        Assert.Equal(8, train.Count); // round(0.25 x 10) = 2 held out, the last two
        Assert.Equal(2, validation.Count);
        var (inputs, _) = Copy(validation);
        Assert.Equal(Enumerable.Range(80, 20).Select(i => (float)i), inputs);
    }

    [Theory]
    [InlineData(12345, 1, 4, 4, "not an llm.c token file (magic 12345")]
    [InlineData(TokenStream.LlmcMagic, 2, 4, 4, "version 2")]
    [InlineData(TokenStream.LlmcMagic, 1, 9, 4, "the header says 9 tokens but the file holds 4")]
    [InlineData(TokenStream.LlmcMagic, 1, -1, 4, "the header says -1 tokens")]
    public void MalformedLlmcFilesAreRejectedByName(int magic, int version, int count, int stored, string problem)
    {
        string file = Path.Combine(folder, "bad.bin");
        var header = new byte[1024];
        BinaryPrimitives.WriteInt32LittleEndian(header, magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), version);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), count);
        File.WriteAllBytes(file, [.. header, .. new byte[2 * stored]]);
        var e = Assert.Throws<DataFormatException>(() => TokenStream.FromLlmc([file]));
        Assert.Contains(problem, e.Message);
        Assert.StartsWith(file, e.Message);
    }

    [Fact]
    public void AFileShorterThanTheHeaderIsNotATokenFile()
    {
        string file = Write("short.bin", [1, 2, 3]);
        var e = Assert.Throws<DataFormatException>(() => TokenStream.FromLlmc([file]));
        Assert.Contains("too few for llm.c's token header", e.Message);
    }

    [Fact]
    public void AContextLongerThanTheDataHoldsNoWindow()
    {
        var stream = TokenStream.FromText([Write("a.txt", new byte[10])]);
        Assert.Equal(1, new TokenWindows(stream, 9).Count);
        var e = Assert.Throws<ArgumentException>(() => new TokenWindows(stream, 10));
        Assert.Contains("10 tokens hold no window of 10 tokens", e.Message);
    }

    [Fact]
    public void TokenTargetsNeedClassIndicesAndEnoughClasses()
    {
        var windows = new TokenWindows(TokenStream.FromText([Write("a.txt", "hello world"u8.ToArray())]), 4);
        using var ce = new CrossEntropyLoss();
        windows.CheckTargets(ce, new Gpu.Runtime.TensorShape(4, 256));
        Assert.Contains("not below the model's 100 classes", Assert.Throws<ArgumentException>(() => windows.CheckTargets(ce, new Gpu.Runtime.TensorShape(4, 100))).Message);
        Assert.Contains("4 next tokens", Assert.Throws<ArgumentException>(() => windows.CheckTargets(ce, new Gpu.Runtime.TensorShape(256))).Message);
        using var mse = new MSELoss();
        Assert.Contains("class indices", Assert.Throws<ArgumentException>(() => windows.CheckTargets(mse, new Gpu.Runtime.TensorShape(4, 256))).Message);
    }

    private static (float[] Inputs, float[] Targets) Copy(TokenWindows windows)
    {
        var inputs = new float[windows.Count * windows.Context];
        var targets = new float[windows.Count * windows.Context];
        windows.CopyRows(0, windows.Count, null, inputs, targets);
        return (inputs, targets);
    }

    private string Write(string name, byte[] bytes)
    {
        string file = Path.Combine(folder, name);
        File.WriteAllBytes(file, bytes);
        return file;
    }

    private string WriteLlmc(string name, ushort[] tokens)
    {
        var header = new byte[1024];
        BinaryPrimitives.WriteInt32LittleEndian(header, TokenStream.LlmcMagic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), tokens.Length);
        var body = new byte[2 * tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(2 * i), tokens[i]);
        return Write(name, [.. header, .. body]);
    }
}
