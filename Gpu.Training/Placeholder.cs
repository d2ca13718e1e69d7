namespace Gpu.Training; internal static class Placeholder {}
