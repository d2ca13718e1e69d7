using Gpu.Kernels;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The CPU device's default backend (<see cref="CpuProfile.Host"/>): every op as vectorised .NET
/// code on the calling thread (large ones over all cores), directly on the CPU accelerator's
/// memory, with no kernel launch and so no launch overhead. A matrix product may still be forced
/// onto a kernel (<see cref="MatMulAlgorithm.RowBlocked"/>, <see cref="MatMulAlgorithm.Tiled"/>): it
/// then goes to a <see cref="KernelBackend"/> made on first use. Every host op first waits for the
/// stream (a forced kernel or a memset may be queued there), so the two never race.
/// </summary>
internal sealed unsafe class HostBackend(Device device) : Backend
{
    private KernelBackend? kernels;
    private HostScratch? convolutionPartials;

    public override string Description => "host SIMD";

    public override int CompiledKernels => kernels?.CompiledKernels ?? 0;

    // The host path launches no kernel: nothing to compile up front.
    public override void CompileAll()
    {
    }

    public override void Zero(Tensor y)
    {
        Begin();
        y.HostSpan.Clear();
    }

    public override void Fill(Tensor y, float value)
    {
        Begin();
        y.HostSpan.Fill(value);
    }

    public override void Relu(Tensor x, Tensor y)
    {
        Begin();
        HostElementwise.For(y.Length, new ReluOp(x, y));
    }

    public override void ReluBackward(Tensor y, Tensor dy, Tensor dx)
    {
        Begin();
        HostElementwise.For(dx.Length, new ReluBackwardOp(y, dy, dx));
    }

    public override void Activation<TActivation>(TActivation f, Tensor x, Tensor y)
    {
        Begin();
        HostElementwise.For(y.Length, new ActivationOp<TActivation>(f, x, y));
    }

    public override void ActivationBackward<TActivation>(TActivation f, Tensor x, Tensor y, Tensor dy, Tensor dx)
    {
        Begin();
        HostElementwise.For(dx.Length, new ActivationBackwardOp<TActivation>(f, x, y, dy, dx));
    }

    public override void Multiply(Tensor a, Tensor b, Tensor y)
    {
        Begin();
        HostElementwise.For(y.Length, new MultiplyOp(a, b, y));
    }

    public override void DropoutMask(Tensor mask, ulong seed, long step, long offset, int threshold, float scale)
    {
        Begin();
        HostElementwise.For(mask.Length, new DropoutMaskOp(mask, seed, step, offset, threshold, scale));
    }

    public override void GatherRows(Tensor source, IndexBuffer indices, int offset, Tensor destination, int rowLength)
    {
        Begin();
        HostOps.GatherRows(source.HostSpan, indices.HostSpan, offset, destination.HostSpan, rowLength);
    }

    public override void MatMul(string op, Tensor a, Tensor b, Tensor c, Tensor? bias, MatMulShape shape, MatMulAlgorithm algorithm, bool relu = false)
    {
        var resolved = algorithm == MatMulAlgorithm.Auto ? device.MatMulAlgorithm : algorithm;
        if (resolved is MatMulAlgorithm.Auto or MatMulAlgorithm.Host)
        {
            Begin();
            HostMatMul.Run(a.HostPointer, b.HostPointer, c.HostPointer, bias is null ? null : bias.HostPointer, shape, relu: relu);
            return;
        }

        kernels ??= new KernelBackend(device);
        kernels.MatMul(op, a, b, c, bias, shape, resolved, relu);
    }

    public override void ColumnSums(Tensor x, Tensor y, int rows, int columns, bool accumulate)
    {
        Begin();
        HostOps.ColumnSums(x.HostSpan, y.HostSpan, rows, columns, accumulate);
    }

    public override void Sum(TermKind term, Tensor a, Tensor b, Tensor output, int items, int width, float scale, float l1 = 0, float l2 = 0)
    {
        Begin();
        double sum = term switch
        {
            TermKind.CrossEntropy => HostOps.CrossEntropy(a.HostSpan, b.HostSpan, width, []),
            TermKind.Correct => HostOps.Correct(a.HostSpan, b.HostSpan, width),
            _ => HostOps.Regularization(a.HostSpan, l1, l2),
        };
        output.HostSpan[0] = (float)(sum * scale);
    }

    public override void CrossEntropyTerms(Tensor logits, Tensor labels, Tensor output, int rows, int classes)
    {
        Begin();
        HostOps.CrossEntropy(logits.HostSpan, labels.HostSpan, classes, output.HostSpan);
    }

    public override void CrossEntropyBackward(Tensor logits, Tensor labels, Tensor grad, int rows, int classes, float scale)
    {
        Begin();
        HostOps.CrossEntropyBackward(logits.HostSpan, labels.HostSpan, grad.HostSpan, classes, scale);
    }

    public override void PointwiseLossSum<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n, float scale)
    {
        Begin();
        output.HostSpan[0] = (float)(HostOps.PointwiseSum(loss, input.HostSpan, target.HostSpan) * scale);
    }

    public override void PointwiseLossTerms<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output, int n)
    {
        Begin();
        HostElementwise.For(n, new PointwiseTermsOp<TLoss>(loss, input, target, output));
    }

    public override void PointwiseLossBackward<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor grad, int n, float scale)
    {
        Begin();
        HostElementwise.For(n, new PointwiseBackwardOp<TLoss>(loss, input, target, grad, scale));
    }

    public override void OptimizerStep<TRule>(TRule rule, Tensor p, Tensor g, Tensor? s0, Tensor? s1, Tensor? s2)
    {
        Begin();
        HostElementwise.For(p.Length, new OptimizerStepOp<TRule>(rule, p, g, s0, s1, s2));
    }

    public override void Conv2d(Tensor x, Tensor w, Tensor? bias, Tensor y, ConvShape s, int outChannels, bool relu)
    {
        Begin();
        HostConvolution.Forward(x.HostPointer, w.HostPointer, bias is null ? null : bias.HostPointer, y.HostPointer, s, outChannels, relu);
    }

    public override void Conv2dBackward(Tensor x, Tensor w, Tensor dy, Tensor dw, Tensor? dbias, Tensor? dx, ConvShape s, int outChannels)
    {
        Begin();
        int length = HostConvolution.Chunks(s) * HostConvolution.PartialLength(s, outChannels);
        HostConvolution.Backward(x.HostPointer, w.HostPointer, dy.HostPointer, dw.HostPointer, dbias is null ? null : dbias.HostPointer,
            dx is null ? null : dx.HostPointer, s, outChannels, HostScratch.Get(ref convolutionPartials, length));
    }

    public override void MaxPool(Tensor x, Tensor y, IndexBuffer indices, PoolShape s)
    {
        Begin();
        HostPooling.MaxPool(x.HostPointer, y.HostPointer, indices.HostPointer, s);
    }

    public override void MaxPoolBackward(Tensor dy, IndexBuffer indices, Tensor dx, PoolShape s)
    {
        Begin();
        HostPooling.MaxPoolBackward(dy.HostPointer, indices.HostPointer, dx.HostPointer, s);
    }

    public override void AvgPool(Tensor x, Tensor y, PoolShape s)
    {
        Begin();
        HostPooling.AvgPool(x.HostPointer, y.HostPointer, s);
    }

    public override void AvgPoolBackward(Tensor dy, Tensor dx, PoolShape s)
    {
        Begin();
        HostPooling.AvgPoolBackward(dy.HostPointer, dx.HostPointer, s);
    }

    public override void Run<TOp>(in TOp op)
    {
        Begin();
        op.RunOnHost(this);
    }

    public override void Dispose() => kernels?.Dispose();

    // A forced kernel or a memset may still be queued on the stream: wait for it before touching memory here.
    private void Begin() => device.Accelerator.DefaultStream.Synchronize();

    // The elementwise ops, each over a piece of its tensors (HostElementwise).
    private readonly struct ReluOp(Tensor x, Tensor y) : IRangeOp
    {
        public void Run(int start, int count) => HostOps.Relu(x.HostSpan.Slice(start, count), y.HostSpan.Slice(start, count));
    }

    private readonly struct ReluBackwardOp(Tensor y, Tensor dy, Tensor dx) : IRangeOp
    {
        public void Run(int start, int count) =>
            HostOps.ReluBackward(y.HostSpan.Slice(start, count), dy.HostSpan.Slice(start, count), dx.HostSpan.Slice(start, count));
    }

    private readonly struct ActivationOp<TActivation>(TActivation f, Tensor x, Tensor y) : IRangeOp
        where TActivation : unmanaged, IActivation
    {
        public void Run(int start, int count) => HostLayers.Activation(f, x.HostSpan.Slice(start, count), y.HostSpan.Slice(start, count));
    }

    private readonly struct ActivationBackwardOp<TActivation>(TActivation f, Tensor x, Tensor y, Tensor dy, Tensor dx) : IRangeOp
        where TActivation : unmanaged, IActivation
    {
        public void Run(int start, int count) => HostLayers.ActivationBackward(
            f, x.HostSpan.Slice(start, count), y.HostSpan.Slice(start, count), dy.HostSpan.Slice(start, count), dx.HostSpan.Slice(start, count));
    }

    private readonly struct MultiplyOp(Tensor a, Tensor b, Tensor y) : IRangeOp
    {
        public void Run(int start, int count) =>
            HostLayers.Multiply(a.HostSpan.Slice(start, count), b.HostSpan.Slice(start, count), y.HostSpan.Slice(start, count));
    }

    private readonly struct DropoutMaskOp(Tensor mask, ulong seed, long step, long offset, int threshold, float scale) : IRangeOp
    {
        public void Run(int start, int count) => HostLayers.DropoutMask(mask.HostSpan.Slice(start, count), seed, step, offset + start, threshold, scale);
    }

    private readonly struct PointwiseTermsOp<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor output) : IRangeOp
        where TLoss : unmanaged, IPointwiseLoss
    {
        public void Run(int start, int count) =>
            HostOps.PointwiseTerms(loss, input.HostSpan.Slice(start, count), target.HostSpan.Slice(start, count), output.HostSpan.Slice(start, count));
    }

    private readonly struct PointwiseBackwardOp<TLoss>(TLoss loss, Tensor input, Tensor target, Tensor grad, float scale) : IRangeOp
        where TLoss : unmanaged, IPointwiseLoss
    {
        public void Run(int start, int count) =>
            HostOps.PointwiseBackward(loss, input.HostSpan.Slice(start, count), target.HostSpan.Slice(start, count), grad.HostSpan.Slice(start, count), scale);
    }

    private readonly struct OptimizerStepOp<TRule>(TRule rule, Tensor p, Tensor g, Tensor? s0, Tensor? s1, Tensor? s2) : IRangeOp
        where TRule : unmanaged, IOptimizerRule
    {
        public void Run(int start, int count) => HostOps.OptimizerStep(
            rule, p.HostSpan.Slice(start, count), g.HostSpan.Slice(start, count),
            s0 is null ? [] : s0.HostSpan.Slice(start, count), s1 is null ? [] : s1.HostSpan.Slice(start, count), s2 is null ? [] : s2.HostSpan.Slice(start, count));
    }
}
