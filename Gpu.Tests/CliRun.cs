using Gpu.Cli;

namespace Gpu.Tests;

/// <summary>The command-line program run in-process, and the one-line error every bad input must give.</summary>
internal static class CliRun
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandLine.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Exit code <paramref name="code"/> and exactly one line on stderr, starting "error: " and containing <paramref name="contains"/>.</summary>
    public static void AssertOneLineError((int Code, string Out, string Err) result, int code, string contains)
    {
        Assert.True(code == result.Code, $"exit code {result.Code}, expected {code}; stderr: {result.Err}");
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{result.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(contains, lines[0]);
    }
}
