using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Gpu.Training;

/// <summary>One tensor of a safetensors file (float32 data, row-major).</summary>
public sealed record NamedTensor(string Name, int[] Shape, float[] Data);

/// <summary>The tensors and string metadata of a safetensors file.</summary>
public sealed record SafeTensorsFile(IReadOnlyDictionary<string, NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Where one tensor lies in a safetensors file, as its header says.</summary>
public sealed record TensorEntry(string Name, string Dtype, int[] Shape, long Begin, long End);

/// <summary>A validated safetensors header: the tensors' places and the metadata, read without the data.</summary>
public sealed record SafeTensorsHeader(string Path, IReadOnlyList<TensorEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataOffset)
{
    /// <summary>Tensor shapes by name.</summary>
    public IReadOnlyDictionary<string, int[]> Shapes => Entries.ToDictionary(e => e.Name, e => e.Shape);
}

/// <summary>
/// Reads and writes the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
/// little-endian header length N, N bytes of UTF-8 JSON <c>{name: {dtype, shape, data_offsets}}</c>
/// with an optional <c>__metadata__</c> map of strings, padded with spaces to a multiple of 8, then
/// the raw little-endian data. Files written here load with <c>safetensors.torch.load_file</c>.
/// <para>
/// The reader checks the header before it reads anything else (its length against the limit and the
/// file's size first), rejects a header that is not UTF-8 JSON, tensors that overlap, leave gaps or
/// do not end exactly at the end of the file, and byte lengths that do not match shape x dtype size;
/// then it streams the data in chunks, so files of any size (over 2 GB too) load. The writer streams
/// too and is atomic (<see cref="AtomicFile"/>).
/// </para>
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest JSON header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const int ChunkBytes = 1 << 20;

    private static readonly Dictionary<string, int> DtypeSizes = new()
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>Writes F32 tensors (in the given order) and metadata atomically.</summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        byte[] header = Header(list, metadata);
        AtomicFile.Write(path, file =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            file.Write(length);
            file.Write(header);
            foreach (var t in list)
                WriteFloats(file, t.Data);
        });
    }

    /// <summary>Reads and validates a whole file; F32 tensors are returned, any other dtype is rejected by name.</summary>
    public static SafeTensorsFile Read(string path)
    {
        var header = ReadHeader(path);
        return new SafeTensorsFile(ReadTensors(header), header.Metadata);
    }

    /// <summary>Reads and validates the header alone: cheap whatever the file's size.</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        InputFile.Require(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        return ReadHeader(path, file);
    }

    /// <summary>Reads the tensors a header lists (those <paramref name="select"/> accepts, all by default), streaming the data.</summary>
    public static Dictionary<string, NamedTensor> ReadTensors(SafeTensorsHeader header, Func<string, bool>? select = null)
    {
        using var file = new FileStream(header.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        return ReadTensors(header, file, select);
    }

    /// <summary>Parses and validates the bytes of a safetensors file; <paramref name="path"/> is used in messages.</summary>
    public static SafeTensorsFile Parse(string path, byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        var header = ReadHeader(path, stream);
        return new SafeTensorsFile(ReadTensors(header, stream, null), header.Metadata);
    }

    private static SafeTensorsHeader ReadHeader(string path, Stream file)
    {
        long size = file.Length;
        if (size < 8)
            throw new SafeTensorsFormatException(path, $"the file has {size} bytes, fewer than the 8-byte header length.");
        Span<byte> prefix = stackalloc byte[8];
        file.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw new SafeTensorsFormatException(path, $"the header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes.");
        if (8 + (long)headerLength > size)
            throw new SafeTensorsFormatException(path, $"the header of {headerLength} bytes runs past the end of the {size}-byte file.");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        long dataLength = size - 8 - (long)headerLength;

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(header);
        }
        catch (DecoderFallbackException)
        {
            throw new SafeTensorsFormatException(path, "the header is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, $"the header is not valid JSON ({e.Message}).");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException(path, "the header is not a JSON object.");

            var metadata = new Dictionary<string, string>();
            var entries = new List<TensorEntry>();
            var seen = new HashSet<string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new SafeTensorsFormatException(path, $"'{property.Name}' appears twice in the header.");
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }

                entries.Add(ReadEntry(path, property.Name, property.Value));
            }

            // The tensors must tile the data section exactly: no overlap, no gap, no trailing bytes.
            long expected = 0;
            foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (e.Begin != expected)
                {
                    throw new SafeTensorsFormatException(path, e.Begin < expected
                        ? $"tensor '{e.Name}' [{e.Begin}, {e.End}) overlaps the previous tensor (which ends at {expected})."
                        : $"there is a gap of {e.Begin - expected} bytes before tensor '{e.Name}' at offset {e.Begin}.");
                }

                expected = e.End;
            }

            if (expected != dataLength)
            {
                throw new SafeTensorsFormatException(path, expected < dataLength
                    ? $"the data section has {dataLength - expected} bytes after the last tensor."
                    : $"the tensors need {expected} bytes of data but the file holds {dataLength}.");
            }

            foreach (var e in entries)
            {
                if (e.Dtype != "F32")
                    throw new SafeTensorsFormatException(path, $"tensor '{e.Name}' has dtype {e.Dtype}; only F32 is supported.");
                if ((e.End - e.Begin) / 4 > Array.MaxLength)
                    throw new SafeTensorsFormatException(path, $"tensor '{e.Name}' has {(e.End - e.Begin) / 4} elements, more than one array can hold.");
            }

            return new SafeTensorsHeader(path, entries, metadata, 8 + (long)headerLength);
        }
    }

    private static Dictionary<string, NamedTensor> ReadTensors(SafeTensorsHeader header, Stream file, Func<string, bool>? select)
    {
        var tensors = new Dictionary<string, NamedTensor>();
        var chunk = new byte[ChunkBytes];
        foreach (var e in header.Entries.OrderBy(e => e.Begin))
        {
            if (select is not null && !select(e.Name))
                continue;
            var floats = new float[(e.End - e.Begin) / 4];
            file.Position = header.DataOffset + e.Begin;
            // Chunks of whole floats: a tensor's bytes may not fit in one span (over 2 GB).
            for (int done = 0; done < floats.Length;)
            {
                int count = Math.Min(ChunkBytes / 4, floats.Length - done);
                file.ReadExactly(chunk, 0, count * 4);
                MemoryMarshal.Cast<byte, float>(chunk.AsSpan(0, count * 4)).CopyTo(floats.AsSpan(done, count));
                done += count;
            }

            if (!BitConverter.IsLittleEndian)
            {
                for (int i = 0; i < floats.Length; i++)
                    floats[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(floats[i])));
            }

            tensors.Add(e.Name, new NamedTensor(e.Name, e.Shape, floats));
        }

        return tensors;
    }

    private static byte[] Header(List<NamedTensor> list, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>();
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                    writer.WriteString(key, value);
                writer.WriteEndObject();
            }

            long offset = 0;
            foreach (var t in list)
            {
                if (t.Name == "__metadata__" || !names.Add(t.Name))
                    throw new ArgumentException($"Tensor name '{t.Name}' is reserved or used twice.", nameof(list));
                long elements = t.Shape.Aggregate(1L, (a, d) => d < 0 ? throw new ArgumentException($"Tensor '{t.Name}' has a negative dimension.") : checked(a * d));
                if (elements != t.Data.Length)
                    throw new ArgumentException($"Tensor '{t.Name}': shape ({string.Join(", ", t.Shape)}) has {elements} elements but {t.Data.Length} values were given.", nameof(list));
                writer.WriteStartObject(t.Name);
                writer.WriteString("dtype", "F32");
                writer.WriteStartArray("shape");
                foreach (int d in t.Shape)
                    writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + 4 * elements);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += 4 * elements;
            }

            writer.WriteEndObject();
        }

        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++)
            json.WriteByte((byte)' ');
        return json.ToArray();
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsFormatException(path, "__metadata__ is not an object of strings.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafeTensorsFormatException(path, $"__metadata__ value '{item.Name}' is not a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new SafeTensorsFormatException(path, $"__metadata__ key '{item.Name}' appears twice.");
        }
    }

    private static TensorEntry ReadEntry(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array)
        {
            throw new SafeTensorsFormatException(path, $"tensor '{name}' needs a string dtype, a shape array and a data_offsets array.");
        }

        string dtype = dtypeElement.GetString()!;
        if (!DtypeSizes.TryGetValue(dtype, out int size))
            throw new SafeTensorsFormatException(path, $"tensor '{name}' has unknown dtype '{dtype}'.");

        var shape = new List<int>();
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw new SafeTensorsFormatException(path, $"tensor '{name}' has a shape entry that is not a non-negative 32-bit integer.");
            shape.Add(dim);
        }

        var offsets = offsetsElement.EnumerateArray().ToList();
        if (offsets.Count != 2 || !offsets.All(o => o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out long v) && v >= 0))
            throw new SafeTensorsFormatException(path, $"tensor '{name}' needs data_offsets [begin, end] of two non-negative integers.");
        long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
        if (end < begin)
            throw new SafeTensorsFormatException(path, $"tensor '{name}' has data_offsets [{begin}, {end}] that end before they begin.");

        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, d) => checked(a * d)) * size);
        }
        catch (OverflowException)
        {
            throw new SafeTensorsFormatException(path, $"tensor '{name}' has a shape whose byte size overflows.");
        }

        if (bytes != end - begin)
            throw new SafeTensorsFormatException(path, $"tensor '{name}' of shape ({string.Join(", ", shape)}) and dtype {dtype} needs {bytes} bytes but data_offsets [{begin}, {end}] hold {end - begin}.");
        return new TensorEntry(name, dtype, [.. shape], begin, end);
    }

    private static void WriteFloats(Stream stream, float[] values)
    {
        if (BitConverter.IsLittleEndian)
        {
            for (int start = 0; start < values.Length; start += ChunkBytes / 4)
                stream.Write(MemoryMarshal.AsBytes(values.AsSpan(start, Math.Min(ChunkBytes / 4, values.Length - start))));
            return;
        }

        var buffer = new byte[4];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
            stream.Write(buffer);
        }
    }
}
