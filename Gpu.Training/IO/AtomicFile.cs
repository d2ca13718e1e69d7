using System.Diagnostics;
using System.Text;

namespace Gpu.Training;

/// <summary>
/// Writes files so that a crash or a kill never leaves a half-written file over an old one: the
/// content goes to a temporary file in the same folder (<c>.NAME.PID.GUID.tmp</c>), is flushed to
/// disk, and is renamed over the target. A failed write keeps the old file and says which path it
/// could not write. Temporary files left by writers that were killed (their process is gone) are
/// removed by the next successful write to the same target.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var (full, folder, name) = Resolve(path);
        string temporary = Path.Combine(folder, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // .NET reports EFBIG (a file-size limit) as an ArgumentException from the stream.
            TryDelete(temporary);
            throw new OutputFileException($"could not write {path}: {(e is UnauthorizedAccessException ? "permission denied" : Reason(e))}; any previous file there is unchanged.", e);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }

        RemoveLeftovers(folder, name);
    }

    /// <summary>Writes text (UTF-8, no BOM) atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            var bytes = new UTF8Encoding(false).GetBytes(text);
            stream.Write(bytes);
        });

    /// <summary>
    /// Checks, before any long work, that <paramref name="path"/> can be written: its folder exists
    /// and takes a new file, and the path is not a folder. Throws an <see cref="OutputFileException"/> naming
    /// the user's path. Writes nothing that stays.
    /// </summary>
    public static void CheckWritable(string path)
    {
        var (_, folder, name) = Resolve(path);
        string probe = Path.Combine(folder, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputFileException($"cannot write {path}: {(e is UnauthorizedAccessException ? $"permission denied in {folder}" : Reason(e))}.", e);
        }
    }

    private static (string Full, string Folder, string Name) Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(full);
        string? folder = Path.GetDirectoryName(full);
        if (name.Length == 0 || folder is null || Directory.Exists(full))
            throw new OutputFileException($"cannot write {path}: it is a folder, not a file.");
        if (!Directory.Exists(folder))
            throw new OutputFileException($"cannot write {path}: the folder {folder} does not exist.");
        return (full, folder, name);
    }

    // Leftovers of this target whose writer process no longer runs (a live one may be writing now).
    private static void RemoveLeftovers(string folder, string name)
    {
        try
        {
            foreach (string file in Directory.EnumerateFiles(folder, $".{name}.*.tmp"))
            {
                string[] parts = Path.GetFileName(file)[(name.Length + 2)..].Split('.');
                if (parts.Length == 3 && int.TryParse(parts[0], out int pid) && pid != Environment.ProcessId && !IsRunning(pid))
                    TryDelete(file);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Cleaning up is a courtesy: the write itself succeeded.
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    // .NET's message for a full disk or a file-size limit names no path; say what happened instead.
    private static string Reason(Exception e) =>
        e.HResult is 27 or 28 or unchecked((int)0x80070070) || e.Message.Contains("too large for the file system", StringComparison.Ordinal)
            ? "the disk is full or the file exceeds a size limit"
            : e.Message;
}

/// <summary>An output file that cannot be written; the message names the user's path and the reason.</summary>
public sealed class OutputFileException(string message, Exception? inner = null) : IOException(message, inner);
