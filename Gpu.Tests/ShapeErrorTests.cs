using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>Launchers validate before launching and name the op and both shapes.</summary>
[Collection(DeviceCollection.Name)]
public sealed class ShapeErrorTests(DeviceFixture devices)
{
    [Fact]
    public void MatMulNamesTheOpAndBothShapes()
    {
        using var lhs = devices.Fast.Zeros(32, 784);
        using var rhs = devices.Fast.Zeros(128, 10);
        using var output = devices.Fast.Zeros(32, 10);
        var error = Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(lhs, rhs, output));
        Assert.Equal("MatMul: lhs (32, 784) and rhs (128, 10): 784 != 128", error.Message);
    }

    [Fact]
    public void LinearNamesInputAndWeight()
    {
        using var input = devices.Fast.Zeros(32, 784);
        using var weight = devices.Fast.Zeros(10, 128);
        using var output = devices.Fast.Zeros(32, 10);
        var error = Assert.Throws<ShapeMismatchException>(() => Ops.Linear(input, weight, null, output));
        Assert.Equal("Linear: input (32, 784) and weight (10, 128)^T: 784 != 128", error.Message);
    }

    [Fact]
    public void MatMulChecksOutputAndBias()
    {
        using var a = devices.Fast.Zeros(4, 3);
        using var b = devices.Fast.Zeros(3, 5);
        using var wrong = devices.Fast.Zeros(4, 4);
        var error = Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(a, b, wrong));
        Assert.Contains("give (4, 5) but output is (4, 4)", error.Message);
        using var c = devices.Fast.Zeros(4, 5);
        using var bias = devices.Fast.Zeros(4);
        var biasError = Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(a, b, c, bias: bias));
        Assert.Contains("bias (4,) does not match the 5 output columns", biasError.Message);
        using var vector = devices.Fast.Zeros(3);
        Assert.Throws<ShapeMismatchException>(() => Ops.MatMul(vector, b, c));
    }

    [Fact]
    public void OutputsMayNotAliasInputs()
    {
        using var arena = devices.Fast.Zeros(8);
        var a = arena.Slice(0, 2, 2);
        var c = arena.Slice(2, 2, 2);
        var error = Assert.Throws<ArgumentException>(() => Ops.MatMul(a, a, c));
        Assert.Contains("overlaps", error.Message);
    }

    [Fact]
    public void OperandsMustShareADevice()
    {
        using var other = Device.CreateCpu();
        using var a = devices.Fast.Zeros(2, 2);
        using var b = other.Zeros(2, 2);
        using var c = devices.Fast.Zeros(2, 2);
        var error = Assert.Throws<ArgumentException>(() => Ops.MatMul(a, b, c));
        Assert.Contains("MatMul: rhs (2, 2) is on cpu", error.Message);
        Assert.Contains("other operands", error.Message);
    }

    [Fact]
    public void LossesCheckShapes()
    {
        using var input = devices.Fast.Zeros(100, 1);
        using var target = devices.Fast.Zeros(100, 2);
        using var loss = devices.Fast.Zeros();
        var error = Assert.Throws<ShapeMismatchException>(() => Ops.MseLoss(input, target, loss));
        Assert.Equal("MseLoss: input (100, 1) and target (100, 2): shapes differ.", error.Message);

        using var goodTarget = devices.Fast.Zeros(100, 1);
        using var notScalar = devices.Fast.Zeros(2);
        Assert.Throws<ShapeMismatchException>(() => Ops.MseLoss(input, goodTarget, notScalar));
        Assert.Throws<ArgumentException>(() => Ops.MseLossBackward(input, goodTarget, input, Reduction.None));

        using var logits = devices.Fast.Zeros(8, 3);
        using var labels = devices.Fast.Zeros(7);
        var ce = Assert.Throws<ShapeMismatchException>(() => Ops.CrossEntropyLoss(logits, labels, loss));
        Assert.Contains("CrossEntropyLoss: logits (8, 3) and labels (7,): 8 != 7 rows", ce.Message);
    }

    [Fact]
    public void ReluAndColumnSumsCheckShapes()
    {
        using var x = devices.Fast.Zeros(3, 4);
        using var y = devices.Fast.Zeros(4, 3);
        Assert.Throws<ShapeMismatchException>(() => Ops.Relu(x, y));
        using var sums = devices.Fast.Zeros(3);
        var error = Assert.Throws<ShapeMismatchException>(() => Ops.ColumnSums(x, sums));
        Assert.Contains("ColumnSums: input (3, 4) and output (3,): 4 != 3", error.Message);
    }
}
