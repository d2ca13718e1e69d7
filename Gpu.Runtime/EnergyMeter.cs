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
            // NVML's exception carries its status, not a message.
            string why = e is NvmlException nvml ? $"NVML returned {nvml.Error}" : e.Message;
            problem = $"no energy reading: {why}{library}";
            return null;
        }
    }
}

/// <summary>
/// A GPU's energy counter held open for a run (NVML initialised once, not per reading), so that it
/// can be read after every epoch at the cost of one driver call.
/// </summary>
public sealed class GpuEnergyCounter : IDisposable
{
    private readonly NvmlDevice nvml;

    private GpuEnergyCounter(NvmlDevice nvml) => this.nvml = nvml;

    /// <summary>The counter of <paramref name="accelerator"/>, or null with the reason when NVML cannot read it.</summary>
    internal static GpuEnergyCounter? Open(CudaAccelerator accelerator, out string? problem)
    {
        NvmlDevice? device = null;
        EnergyMeter.Read(() =>
        {
            device = NvmlDevice.CreateFromAccelerator(accelerator);
            return 0;
        }, out problem);
        if (device is null)
            return null;
        var counter = new GpuEnergyCounter(device);
        if (counter.ReadJoules(out problem) is null)
        {
            counter.Dispose();
            return null;
        }

        return counter;
    }

    /// <summary>Joules since the driver loaded, or null with the reason.</summary>
    public double? ReadJoules(out string? problem) =>
        EnergyMeter.Read(() =>
        {
            var status = nvml.API.DeviceGetTotalEnergyConsumption(nvml.DeviceHandle, out ulong millijoules);
            return status == NvmlReturn.NVML_SUCCESS ? millijoules : throw new InvalidOperationException($"nvmlDeviceGetTotalEnergyConsumption returned {status}");
        }, out problem);

    public void Dispose()
    {
        try
        {
            nvml.Dispose();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // nvmlShutdown failing must not fail a finished run.
        }
    }
}

