namespace Gpu.Training;

/// <summary>Checks that an input path names a readable file, with a message that says what is wrong.</summary>
public static class InputFile
{
    public static void Require(string path)
    {
        if (Directory.Exists(path))
            throw new IOException($"{path} is a directory, not a file.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file.", path);
    }
}
