namespace Gpu.Training;

/// <summary>A file that is not a valid safetensors file; the message names the file and the problem.</summary>
public sealed class SafeTensorsFormatException(string path, string problem)
    : FormatException($"{path}: not a valid safetensors file: {problem}")
{
    public string Path { get; } = path;
}
