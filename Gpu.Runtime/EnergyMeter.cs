using ILGPU.Runtime.Cuda;

namespace Gpu.Runtime;

/// <summary>Reads a GPU's cumulative energy counter through NVML (Volta and newer).</summary>
internal static class EnergyMeter
{
    public static double? ReadJoules(CudaAccelerator accelerator)
    {
        try
        {
            using var nvml = NvmlDevice.CreateFromAccelerator(accelerator);
            var status = nvml.API.DeviceGetTotalEnergyConsumption(nvml.DeviceHandle, out ulong millijoules);
            return status == NvmlReturn.NVML_SUCCESS ? millijoules / 1000.0 : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }
}
