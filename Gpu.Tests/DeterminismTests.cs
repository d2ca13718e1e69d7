using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>Reductions use a fixed order (no float atomics): the same inputs give the same bits every run.</summary>
[Collection(DeviceCollection.Name)]
public sealed class DeterminismTests(DeviceFixture devices)
{
    [SkippableTheory]
    [MemberData(nameof(Profiles.All), MemberType = typeof(Profiles))]
    public void ReductionsAndProductsAreBitIdenticalAcrossRuns(string profile)
    {
        var device = devices.Get(profile);
        // Many groups' partial sums either way; the GPU-like profile emulates 256-thread groups with OS threads, so it gets fewer rows.
        int rows = profile == "gpulike" ? 1031 : 4099;
        const int columns = 17;
        var x = Numerics.Random(rows * columns, 11, scale: 1000f);
        var y = Numerics.Random(rows * columns, 12);
        var w = Numerics.Random(columns * columns, 13);
        using var input = device.FromArray(x, rows, columns);
        using var target = device.FromArray(y, rows, columns);
        using var weight = device.FromArray(w, columns, columns);
        using var loss = device.Zeros();
        using var sums = device.Zeros(columns);
        using var product = device.Zeros(columns, columns);

        (float Loss, float[] Sums, float[] Product) Run()
        {
            Ops.MseLoss(input, target, loss);
            Ops.ColumnSums(input, sums);
            Ops.MatMul(input, target, product, transposeA: true);
            return (loss.Item(), sums.ToArray(), product.ToArray());
        }

        var first = Run();
        for (int run = 0; run < 3; run++)
        {
            var again = Run();
            Assert.Equal(BitConverter.SingleToInt32Bits(first.Loss), BitConverter.SingleToInt32Bits(again.Loss));
            Assert.Equal(first.Sums, again.Sums);
            Assert.Equal(first.Product, again.Product);
        }
    }
}
