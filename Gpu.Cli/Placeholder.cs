namespace Gpu.Cli; internal static class Placeholder {}
