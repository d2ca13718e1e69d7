using System.Numerics.Tensors;
using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>Elementwise sum <c>output = a + b</c> (a residual connection); output may be a or b itself.</summary>
    public static void Add(Tensor a, Tensor b, Tensor output)
    {
        const string op = nameof(Add);
        var d = Check.Usable(op, a, "a");
        Check.Usable(op, b, "b", d);
        Check.Usable(op, output, "output", d);
        Check.SameShape(op, a, "a", b, "b");
        Check.SameShape(op, a, "a", output, "output");
        Check.InPlaceOrDisjoint(op, output, "output", a, "a");
        Check.InPlaceOrDisjoint(op, output, "output", b, "b");
        if (a.Length > 0)
            d.Dispatch().Run(new AddOp(a, b, output));
    }

    private readonly struct AddOp(Tensor a, Tensor b, Tensor y) : IDeviceOp, IRangeOp
    {
        public void RunOnHost(HostBackend host) => HostElementwise.For(y.Length, this);

        public OpCost Cost => new(y.Length, 4.0 * 3 * y.Length);

        public void Run(int start, int count) =>
            TensorPrimitives.Add(a.HostSpan.Slice(start, count), b.HostSpan.Slice(start, count), y.HostSpan.Slice(start, count));

        public void RunOnKernels(KernelBackend k)
        {
            int n = y.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(ElementwiseKernels.Add, k.Stream, threads, a.Flat, b.Flat, y.Flat, n, threads);
        }
    }
}
