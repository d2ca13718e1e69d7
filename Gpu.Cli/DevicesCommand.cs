using System.CommandLine;
using Gpu.Runtime;

namespace Gpu.Cli;

/// <summary>`devices`: every accelerator found, with the one `auto` picks marked.</summary>
internal static class DevicesCommand
{
    public static Command Create(CommandContext context)
    {
        var command = new Command("devices", "List the accelerators found and mark the one 'auto' picks.");
        command.SetAction(_ => Run(context));
        return command;
    }

    private static int Run(CommandContext context)
    {
        var found = Device.Discover();
        DeviceInfo picked;
        string? note;
        using (var auto = Device.Create("auto"))
        {
            picked = auto.Info;
            note = auto.SelectionNote;
        }

        context.Out.WriteLine("  kind    name                                      memory  warp  multiprocessors");
        foreach (var d in found)
        {
            bool isPick = d.Kind == picked.Kind && d.Name == picked.Name;
            string memory = d.MemoryBytes > 0 ? $"{d.MemoryBytes / (1024.0 * 1024 * 1024),6:F1} GiB" : "         -";
            context.Out.WriteLine($"{(isPick ? "*" : " ")} {d.KindName,-7} {Truncate(d.Name, 40),-40} {memory} {d.WarpSize,5} {d.Multiprocessors,16}{(d.IsUsable ? "" : $"  unusable: {d.Problem}")}");
        }

        // Each unusable device's reason is on its row: the fallback is said once, not repeated here.
        bool fellBack = note is not null && note.StartsWith("auto:", StringComparison.Ordinal);
        context.Out.WriteLine($"* auto picks {picked.KindName} ({picked.Name}){(note is null ? "" : fellBack ? (found.Any(d => !d.IsUsable) ? ": no usable GPU (see above)" : ": no GPU found") : $": {note}")}");
        return ExitCode.Ok;
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}
