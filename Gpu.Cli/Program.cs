using System.Runtime.InteropServices;
using Gpu.Cli;

// A write past a file-size limit (ulimit -f, as batch schedulers set) raises SIGXFSZ, which kills
// the process by default; handled, the write fails with EFBIG instead, and the error names the file.
using var fileSizeLimit = OperatingSystem.IsLinux() ? PosixSignalRegistration.Create((PosixSignal)25, context => context.Cancel = true) : null;
return CommandLine.Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected);
