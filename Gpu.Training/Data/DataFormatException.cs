namespace Gpu.Training;

/// <summary>
/// A data file that cannot be used, with the place of the first problem: the message reads
/// <c>path:line:column: what is wrong</c> (line and column 1-based; column omitted for whole-line problems).
/// </summary>
public sealed class DataFormatException : FormatException
{
    public DataFormatException(string path, int? line, int? column, string problem)
        : base($"{path}{(line is null ? "" : $":{line}")}{(column is null ? "" : $":{column}")}: {problem}")
    {
        Path = path;
        Line = line;
        Column = column;
    }

    public string Path { get; }

    public int? Line { get; }

    public int? Column { get; }
}
