using System.Buffers.Binary;

namespace Gpu.Training;

/// <summary>
/// Tokens read from files, kept as they are stored (a byte or a uint16 each), one part per file:
/// <list type="bullet">
/// <item><see cref="FromText"/>: any file's bytes are the tokens (vocabulary 256, UTF-8 or not);</item>
/// <item><see cref="FromLlmc"/>: llm.c's token files (dev/data/data_common.py): a header of 256
/// int32 (magic 20240520, version 1, token count), then the tokens as uint16; vocabulary the
/// largest id + 1.</item>
/// </list>
/// A 1 GB text is 1 GB in memory: tokens become floats only a batch at a time (<see cref="TokenWindows"/>).
/// Windows never cross from one file into the next, as llm.c's shards are read.
/// </summary>
public sealed class TokenStream
{
    /// <summary>llm.c's token file magic number (header int32 0).</summary>
    public const int LlmcMagic = 20240520;

    private const int LlmcHeaderInts = 256;
    private readonly IReadOnlyList<Part> parts;

    private TokenStream(IReadOnlyList<Part> parts, string kind, int vocabulary, int largestId)
    {
        this.parts = parts;
        Kind = kind;
        Vocabulary = vocabulary;
        LargestId = largestId;
        Count = parts.Sum(p => p.Length);
        Bytes = parts.Sum(p => p.Bytes);
    }

    /// <summary>The <see cref="Kind"/> of byte tokens (--text).</summary>
    public const string BytesKind = "bytes";

    /// <summary>The <see cref="Kind"/> of llm.c's uint16 tokens (--tokens).</summary>
    public const string Uint16Kind = "uint16";

    /// <summary><see cref="BytesKind"/> or <see cref="Uint16Kind"/>.</summary>
    public string Kind { get; }

    /// <summary>Ids lie in [0, Vocabulary): 256 for bytes, the largest id + 1 for llm.c files.</summary>
    public int Vocabulary { get; }

    /// <summary>The largest id in the files.</summary>
    public int LargestId { get; }

    /// <summary>Tokens in all files.</summary>
    public long Count { get; }

    /// <summary>Bytes read from the files.</summary>
    public long Bytes { get; }

    /// <summary>Files read, in order.</summary>
    public int Files => parts.Count;

    /// <summary>Every byte of each file is a token (vocabulary 256).</summary>
    public static TokenStream FromText(IReadOnlyList<string> files)
    {
        var parts = new List<Part>();
        int largest = 0;
        foreach (var file in files)
        {
            InputFile.Require(file);
            long length = new FileInfo(file).Length;
            if (length > Array.MaxLength)
                throw new DataFormatException(file, null, null, $"{length} bytes in one file are more than one part can hold ({Array.MaxLength}); split it into several files.");
            var bytes = File.ReadAllBytes(file);
            foreach (byte b in bytes)
                largest = Math.Max(largest, b);
            parts.Add(new ByteTokens(bytes));
        }

        return new TokenStream(parts, BytesKind, 256, largest);
    }

    /// <summary>llm.c token files; throws <see cref="DataFormatException"/> naming the file for a bad header or a count its size cannot hold.</summary>
    public static TokenStream FromLlmc(IReadOnlyList<string> files)
    {
        var parts = new List<Part>();
        int largest = 0;
        foreach (var file in files)
        {
            InputFile.Require(file);
            using var stream = File.OpenRead(file);
            var header = new byte[LlmcHeaderInts * 4];
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
                throw new DataFormatException(file, null, null, $"{stream.Length} bytes are too few for llm.c's token header of {header.Length} bytes.");
            int magic = BinaryPrimitives.ReadInt32LittleEndian(header), version = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
            long count = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
            if (magic != LlmcMagic)
                throw new DataFormatException(file, null, null, $"not an llm.c token file (magic {magic}, expected {LlmcMagic}).");
            if (version != 1)
                throw new DataFormatException(file, null, null, $"llm.c token file version {version}; version 1 (uint16 tokens) is read.");
            long room = (stream.Length - header.Length) / 2;
            if (count < 0 || count > room)
                throw new DataFormatException(file, null, null, $"the header says {count} tokens but the file holds {room}.");
            if (count > Array.MaxLength)
                throw new DataFormatException(file, null, null, $"{count} tokens in one file are more than one part can hold ({Array.MaxLength}); split it into shards.");
            var tokens = new ushort[count];
            var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan());
            stream.ReadExactly(raw);
            if (!BitConverter.IsLittleEndian)
            {
                for (int i = 0; i < tokens.Length; i++)
                    tokens[i] = BinaryPrimitives.ReverseEndianness(tokens[i]);
            }

            foreach (ushort t in tokens)
                largest = Math.Max(largest, t);
            parts.Add(new ShortTokens(tokens));
        }

        return new TokenStream(parts, Uint16Kind, largest + 1, largest);
    }

    /// <summary>Windows of <paramref name="context"/> tokens (and their next tokens) the files give: floor((n - 1) / T) per file.</summary>
    public long Windows(int context) => parts.Sum(p => Math.Max(0, (p.Length - 1) / context));

    /// <summary>
    /// Window <paramref name="window"/> (counting through the files in order): its tokens [w T, w T + T)
    /// of its file into <paramref name="inputs"/>, the next ones [w T + 1, w T + T + 1) into <paramref name="targets"/>.
    /// </summary>
    internal void CopyWindow(long window, int context, Span<float> inputs, Span<float> targets)
    {
        foreach (var part in parts)
        {
            long windows = Math.Max(0, (part.Length - 1) / context);
            if (window < windows)
            {
                long start = window * context;
                part.CopyTo(start, inputs[..context]);
                part.CopyTo(start + 1, targets[..context]);
                return;
            }

            window -= windows;
        }

        throw new ArgumentOutOfRangeException(nameof(window), window, "The window lies past the last file's windows.");
    }

    /// <summary>One file's tokens.</summary>
    private abstract class Part
    {
        public abstract long Length { get; }

        public abstract long Bytes { get; }

        public abstract void CopyTo(long start, Span<float> destination);
    }

    private sealed class ByteTokens(byte[] tokens) : Part
    {
        public override long Length => tokens.Length;

        public override long Bytes => tokens.Length;

        public override void CopyTo(long start, Span<float> destination)
        {
            var source = tokens.AsSpan((int)start, destination.Length);
            for (int i = 0; i < destination.Length; i++)
                destination[i] = source[i];
        }
    }

    private sealed class ShortTokens(ushort[] tokens) : Part
    {
        public override long Length => tokens.Length;

        public override long Bytes => 2L * tokens.Length + LlmcHeaderInts * 4;

        public override void CopyTo(long start, Span<float> destination)
        {
            var source = tokens.AsSpan((int)start, destination.Length);
            for (int i = 0; i < destination.Length; i++)
                destination[i] = source[i];
        }
    }
}
