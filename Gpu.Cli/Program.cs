using System.Runtime.InteropServices;
using Gpu.Cli;
using Gpu.Runtime;

// A write past a file-size limit (ulimit -f, as batch schedulers set) raises SIGXFSZ, which kills
// the process by default; handled, the write fails with EFBIG instead, and the error names the file.
using var fileSizeLimit = OperatingSystem.IsLinux() ? PosixSignalRegistration.Create((PosixSignal)25, context => context.Cancel = true) : null;

// An MPI launcher gives each rank a pseudo-terminal and copies it to its own output, often a file:
// .NET would start that terminal in keypad mode (ESC[?1h ESC=) and the file would begin with it.
// A terminal without capabilities, set before the console is first touched, writes no control code.
bool launched = ProcessGroup.DetectLaunch() is not null;
if (launched)
    Environment.SetEnvironmentVariable("TERM", "dumb");
return CommandLine.Run(args, Console.Out, Console.Error, interactive: !launched && !Console.IsOutputRedirected);
