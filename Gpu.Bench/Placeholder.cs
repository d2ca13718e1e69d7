namespace Gpu.Bench; internal static class Placeholder {}
