using System.Buffers.Binary;
using System.Numerics;
using Google.Protobuf;
using Gpu.Training.TensorBoardProto;

namespace Gpu.Training;

/// <summary>
/// Writes a run's scalars as a TensorBoard event file, <c>events.out.tfevents.{unix time}.{host}</c>
/// in <see cref="Folder"/>, which <c>tensorboard --logdir</c> shows. An event file is a sequence of
/// TFRecords: the length (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data (an
/// <c>Event</c> protobuf), the masked CRC-32C of the data. The first event names the file version
/// ("brain.Event:2"); each <see cref="Write"/> adds one event of scalar summaries at a step. The file
/// is appended to and flushed after each event, so TensorBoard shows a run while it trains.
/// </summary>
public sealed class TensorBoardWriter : IDisposable
{
    /// <summary>The version string of event files TensorBoard reads.</summary>
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream stream;

    /// <summary>Creates <paramref name="folder"/> if needed and starts a new event file in it; throws <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when it cannot.</summary>
    public TensorBoardWriter(string folder, DateTimeOffset? start = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var now = start ?? DateTimeOffset.UtcNow;
        Directory.CreateDirectory(folder);
        Folder = folder;
        // Two runs started in the same second into one folder get .1, .2, ... (TensorBoard reads any *tfevents* name).
        string name = System.IO.Path.Combine(folder, $"events.out.tfevents.{now.ToUnixTimeSeconds()}.{Environment.MachineName}");
        Path = name;
        for (int n = 1; File.Exists(Path); n++)
            Path = $"{name}.{n}";
        stream = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        WriteRecord(new Event { WallTime = now.ToUnixTimeMilliseconds() / 1000.0, FileVersion = FileVersion, SourceMetadata = new SourceMetadata { Writer = "gpu-training" } });
    }

    public string Folder { get; }

    /// <summary>The event file written.</summary>
    public string Path { get; }

    /// <summary>One event: <paramref name="scalars"/> (tag, value) at <paramref name="step"/>; non-finite values are left out.</summary>
    public void Write(long step, IEnumerable<(string Tag, double Value)> scalars, DateTimeOffset? time = null)
    {
        ArgumentNullException.ThrowIfNull(scalars);
        var summary = new Summary();
        foreach (var (tag, value) in scalars)
        {
            if (double.IsFinite(value))
                summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = (float)value });
        }

        var wall = time ?? DateTimeOffset.UtcNow;
        WriteRecord(new Event { WallTime = wall.ToUnixTimeMilliseconds() / 1000.0, Step = step, Summary = summary });
    }

    public void Dispose() => stream.Dispose();

    /// <summary>CRC-32C (Castagnoli) of <paramref name="data"/>, hardware-accelerated where the CPU has it.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
            crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xa282ead8.</summary>
    public static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8);
    }

    private void WriteRecord(Event e)
    {
        var data = e.ToByteArray();
        var header = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), MaskedCrc32C(header.AsSpan(0, 8)));
        var footer = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(data));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
        stream.Flush();
    }
}

/// <summary>
/// The epoch part that writes each epoch's scalars to TensorBoard at the optimizer step reached:
/// loss, val_loss, val_accuracy, lr, grad_norm, samples/s (tokens/s for token data) and whatever
/// <paramref name="extra"/> adds (joules where measured).
/// </summary>
public sealed class TensorBoardLogging(TensorBoardWriter writer, int? tokensPerSample = null, Func<EpochEnd, IEnumerable<(string Tag, double Value)>>? extra = null)
    : IEpochPart
{
    public void AfterEpoch(EpochEnd end)
    {
        var r = end.Result;
        var scalars = new List<(string, double)> { ("loss", r.Loss), ("lr", r.LearningRate), ("grad_norm", r.GradNorm) };
        if (r.ValLoss is { } v)
            scalars.Add(("val_loss", v));
        if (r.ValAccuracy is { } a)
            scalars.Add(("val_accuracy", a));
        double rate = r.Samples / Math.Max(r.Seconds, 1e-9);
        scalars.Add(tokensPerSample is { } t ? ("tokens_per_second", rate * t) : ("samples_per_second", rate));
        if (extra is not null)
            scalars.AddRange(extra(end));
        writer.Write(end.Trainer.StepsTaken, scalars);
    }
}
