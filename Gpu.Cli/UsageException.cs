namespace Gpu.Cli;

/// <summary>A bad flag or flag combination: reported as one line with exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Exit codes of the program.</summary>
internal static class ExitCode
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Diverged = 3;
}
