using System.CommandLine;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Cli;

/// <summary>
/// The program: `train`, `predict` and `devices`, parsed by System.CommandLine. Every error is one
/// line on stderr ("error: ...") and a non-zero exit code; --verbose adds the stack trace.
/// Exit codes: 0 ok, 1 failure (files, data, devices), 2 bad usage, 3 training diverged.
/// </summary>
public static class CommandLine
{
    /// <summary>Runs the program in-process (the tests do this) and returns its exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive = false)
    {
        var verbose = new Option<bool>("--verbose") { Description = "Print stack traces with errors.", Recursive = true };
        var root = new RootCommand("GPU-accelerated training for .NET on ILGPU: train and use small neural networks on CUDA, OpenCL or the CPU.");
        root.Options.Add(verbose);
        var context = new CommandContext(stdout, stderr, interactive, args.Contains("--verbose"));
        root.Subcommands.Add(TrainCommand.Create(context));
        root.Subcommands.Add(PredictCommand.Create(context));
        root.Subcommands.Add(EvaluateCommand.Create(context));
        root.Subcommands.Add(ExportCommand.Create(context));
        root.Subcommands.Add(GenerateCommand.Create(context));
        root.Subcommands.Add(InspectCommand.Create(context));
        root.Subcommands.Add(PlotCommand.Create(context));
        root.Subcommands.Add(DevicesCommand.Create(context));

        // `gpu help [command]` is `gpu [command] --help`.
        if (args.Length > 0 && args[0] == "help")
            args = args.Length == 1 ? ["--help"] : root.Subcommands.Any(c => c.Name == args[1]) ? [args[1], "--help"] : [args[1]];
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            stderr.WriteLine($"error: {ParseErrors.Describe(parse, root)}");
            return ExitCode.Usage;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            int code = ExitCodeOf(e);
            stderr.WriteLine($"error: {Describe(e)}");
            if (parse.GetValue(verbose))
                stderr.WriteLine(e.ToString());
            return code;
        }
    }

    /// <summary>The exit code for an error: 2 bad usage, 3 training diverged, 1 anything else.</summary>
    internal static int ExitCodeOf(Exception e) => e switch
    {
        UsageException => ExitCode.Usage,
        TrainingDivergedException => ExitCode.Diverged,
        _ => ExitCode.Failure,
    };

    /// <summary>One line a user can act on; unexpected exceptions also name their type.</summary>
    internal static string Describe(Exception e) => e switch
    {
        UsageException or TrainingDivergedException or DataFormatException or SafeTensorsFormatException or DeviceNotFoundException or OutputFileException
            or FileNotFoundException or DirectoryNotFoundException or ArgumentException or DllNotFoundException or MpiException or PlotException => Flatten(e.Message),
        UnauthorizedAccessException => $"permission denied: {Flatten(e.Message)}",
        IOException => $"I/O error: {Flatten(e.Message)}",
        // Never a .NET type name: the message, and how to see more.
        _ => $"{Flatten(e.Message)} (an unexpected failure: run with --verbose for the details, and please report it)",
    };

    /// <summary>A message on one line: line breaks and tabs become single spaces.</summary>
    internal static string Flatten(string message) =>
        string.Join(" ", message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Where a command writes, whether stdout is a terminal (for progress bars), and whether --verbose was given.</summary>
internal sealed record CommandContext(TextWriter Out, TextWriter Error, bool Interactive, bool Verbose = false)
{
    /// <summary>
    /// The device as a command names it: why `auto` fell back to the CPU is said in full by
    /// `gpu devices` (and with --verbose); other commands point there instead of repeating it.
    /// </summary>
    public string Describe(Device device) =>
        device.SelectionNote is not { } note ? device.Info.ToString()
        : Verbose || !note.StartsWith("auto:", StringComparison.Ordinal) ? $"{device.Info} [{note}]"
        : $"{device.Info} [auto: no usable GPU, so the CPU; `gpu devices` says why]";
}
