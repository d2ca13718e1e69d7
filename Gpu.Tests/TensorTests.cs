using Gpu.Runtime;

namespace Gpu.Tests;

[Collection(DeviceCollection.Name)]
public sealed class TensorTests(DeviceFixture devices)
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(1025)]
    public void RoundTripsHostData(int n)
    {
        var data = Numerics.Random(n, n);
        using var t = devices.Fast.FromArray(data, n);
        Assert.Equal(data, t.ToArray());
        Assert.Equal(new TensorShape(n), t.Shape);
        using var m = devices.Fast.FromArray(data, 1, n);
        Assert.Equal(2, m.Rank);
        Assert.Equal(data, m.ToArray());
    }

    [Fact]
    public void CpuTensorsStartOnACacheLineAndTheirViewsStillSeeTheirData()
    {
        // The host kernels' vector loads and stores assume it: a 64-byte vector across two cache
        // lines costs two accesses (ILGPU's own CPU buffers start 16 bytes past a line).
        var tensors = new[] { 1, 3, 16, 17, 1000, 100_003 }.Select(n => devices.Host.FromArray(Numerics.Random(n, n), n)).ToList();
        tensors.Add(devices.Fast.Zeros(5));
        try
        {
            foreach (var t in tensors)
                Assert.Equal(0, (((ILGPU.Runtime.MemoryBuffer)t.Root).NativePtr.ToInt64() + t.RootOffset * sizeof(float)) % 64);
            // ILGPU's kernels read a tensor through its view, which starts where the tensor does.
            var data = Numerics.Random(12, 3);
            using var matrix = devices.Fast.FromArray(data, 3, 4);
            using var relu = devices.Fast.Zeros(3, 4);
            using var row = devices.Fast.Zeros(1, 4);
            Ops.Relu(matrix, relu);
            Ops.Relu(matrix.Rows(1, 1), row);
            var expected = data.Select(v => Math.Max(v, 0f)).ToArray();
            Assert.Equal(expected, relu.ToArray());
            Assert.Equal(expected[4..8], row.ToArray());
        }
        finally
        {
            tensors.ForEach(t => t.Dispose());
        }
    }

    [Fact]
    public void ZerosAreZeroAndScalarsHoldOneElement()
    {
        using var t = devices.Fast.Zeros(4, 5);
        Assert.All(t.ToArray(), v => Assert.Equal(0f, v));
        using var s = devices.Fast.Zeros();
        Assert.Equal(0, s.Rank);
        Assert.Equal(1, s.Length);
        Assert.Equal(0f, s.Item());
        Assert.Throws<InvalidOperationException>(() => t.Item());
    }

    [Fact]
    public void ShapesPrintLikePyTorch()
    {
        Assert.Equal("(32, 784)", new TensorShape(32, 784).ToString());
        Assert.Equal("(5,)", new TensorShape(5).ToString());
        Assert.Equal("()", TensorShape.Scalar.ToString());
        Assert.Throws<ArgumentException>(() => new TensorShape(3, -1));
        Assert.Throws<ArgumentException>(() => new TensorShape(65536, 65536));
    }

    [Fact]
    public void FromArrayChecksTheElementCount()
    {
        var error = Assert.Throws<ShapeMismatchException>(() => devices.Fast.FromArray([1f, 2f, 3f], 2, 2));
        Assert.Contains("(2, 2) needs 4 elements but 3 were given", error.Message);
    }

    [Fact]
    public void ViewsShareMemoryWithoutCopying()
    {
        using var arena = devices.Fast.Zeros(10);
        using var weight = arena.Slice(0, new TensorShape(2, 3), "0.weight");
        using var bias = arena.Slice(6, new TensorShape(2), "0.bias");
        weight.CopyFrom([1f, 2f, 3f, 4f, 5f, 6f]);
        bias.Fill(9f);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f, 9f, 9f, 0f, 0f], arena.ToArray());
        Assert.True(weight.IsView);
        Assert.Equal("0.weight", weight.Name);

        var rows = weight.Rows(1, 1);
        Assert.Equal([4f, 5f, 6f], rows.ToArray());
        var flat = weight.Reshape(6);
        Assert.Equal(6, flat.Length);
        Assert.Throws<ShapeMismatchException>(() => weight.Reshape(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => arena.Slice(8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => weight.Rows(1, 2));
    }

    [Fact]
    public void DisposingAViewLeavesTheParentUsable()
    {
        using var parent = devices.Fast.FromArray([1f, 2f], 2);
        var view = parent.Slice(0, 1);
        view.Dispose();
        Assert.True(view.IsDisposed);
        Assert.Equal([1f, 2f], parent.ToArray());
    }

    [Fact]
    public void UsingADisposedTensorThrowsAndSaysWhy()
    {
        var parent = devices.Fast.Zeros(4);
        var view = parent.Slice(1, new TensorShape(2), "0.bias");
        parent.Dispose();
        Assert.True(view.IsDisposed);
        var error = Assert.Throws<ObjectDisposedException>(() => view.ToArray());
        Assert.Contains("'0.bias' (2,) has been disposed", error.Message);
        Assert.Throws<ObjectDisposedException>(() => parent.Fill(1f));
        var opError = Assert.Throws<ObjectDisposedException>(() => Ops.Relu(parent, parent));
        Assert.Contains("Relu: input", opError.Message);
        parent.Dispose(); // idempotent
    }

    [Fact]
    public void HostCopiesCheckLengths()
    {
        using var t = devices.Fast.Zeros(3);
        Assert.Throws<ArgumentException>(() => t.CopyFrom([1f, 2f]));
        Assert.Throws<ArgumentException>(() => t.CopyTo(new float[4]));
    }
}
