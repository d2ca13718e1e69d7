using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime;

/// <summary>
/// Reads a GPU's cumulative energy counter through NVML (Volta and newer). Energy is information,
/// never a reason to fail a run: any failure (no NVML, a driver/NVML mismatch, no permission in a
/// container, nvmlShutdown failing on dispose) gives null with the reason.
/// </summary>
internal static class EnergyMeter
{
    public static double? ReadJoules(CudaAccelerator accelerator, out string? problem) =>
        Read(() =>
        {
            using var nvml = NvmlDevice.CreateFromAccelerator(accelerator);
            var status = nvml.API.DeviceGetTotalEnergyConsumption(nvml.DeviceHandle, out ulong millijoules);
            return status == NvmlReturn.NVML_SUCCESS ? millijoules : throw new InvalidOperationException($"nvmlDeviceGetTotalEnergyConsumption returned {status}");
        }, out problem);

    /// <summary>Joules from a millijoule reading, or null with the reason when the reading throws.</summary>
    internal static double? Read(Func<ulong> millijoules, out string? problem)
    {
        try
        {
            double joules = millijoules() / 1000.0;
            problem = null;
            return joules;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            string library = NativeLibraries.Outcome("nvml") is { } outcome ? $" (NVML library: {outcome})" : "";
            problem = $"no energy reading: {e.GetType().Name}: {e.Message}{library}";
            return null;
        }
    }
}
