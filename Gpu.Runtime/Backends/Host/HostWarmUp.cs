using System.Runtime.Intrinsics;
using Gpu.Kernels;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// Compiles the host path's hot methods on a background thread when the first host device is made,
/// so a short run does not wait for the JIT in its first step. Those methods are compiled fully
/// optimised on first call (tier-0 vector code is several times slower), which took about 25 ms of
/// the reference example's first step: its first Linear alone took 21 ms, its first ReLU 3 ms.
/// Creating the device takes longer than that (ILGPU's context), so on two or more cores the work
/// is hidden. It calls the host code itself on tiny arrays of its own; no device is involved.
/// </summary>
internal static class HostWarmUp
{
    private static int started;

    /// <summary>Starts the warm-up once per process (later calls do nothing).</summary>
    public static void Start()
    {
        if (Environment.ProcessorCount < 2 || Interlocked.Exchange(ref started, 1) != 0)
            return;
        new Thread(RunQuietly) { IsBackground = true, Name = "host warm-up", Priority = ThreadPriority.BelowNormal }.Start();
    }

    /// <summary>The warm-up itself, on the calling thread.</summary>
    internal static void Run()
    {
        Products();
        Convolutions();
        Elementwise();
        Recurrent();
    }

    private static void RunQuietly()
    {
        try
        {
            Run();
        }
        catch (Exception)
        {
            // Only a head start: a failure here shows up again, with its message, in the op itself.
        }
    }

    // Every form of the 8-float kernel (an MLP's products), of the transposed path for tall,
    // skinny products, and of the 512-bit kernels where they run (6 x 64, 6 x 32, and the narrow
    // kernel for a few columns at a large batch, as in `predict` of an MLP).
    private static void Products()
    {
        var shapes = new List<(int M, int N, int K)> { (12, 20, 10), (520, 7, 20) };
        if (Vector512.IsHardwareAccelerated)
            shapes.AddRange([(80, 80, 130), (80, 24, 300), (4100, 7, 20)]);
        foreach (var (m, n, k) in shapes)
        {
            var kernel = HostMatMul.Choose(MatMulShape.Create(m, n, k, false, false, false, false));
            var a = new float[m * k];
            var b = new float[k * n];
            var c = new float[m * n];
            var bias = new float[n];
            foreach (var (transposeA, transposeB) in new[] { (false, false), (false, true), (true, false) })
            {
                HostMatMul.Run(kernel, a, b, c, bias, MatMulShape.Create(m, n, k, transposeA, transposeB, true, false));
                HostMatMul.Run(kernel, a, b, c, null, MatMulShape.Create(m, n, k, transposeA, transposeB, false, true));
            }
        }
    }

    // A first convolution layer's forward (on the lanes where AVX-512 has them) and backward, as in
    // the digits CNN of the README: one 8 x 8 image, 16 channels out.
    private static unsafe void Convolutions()
    {
        var shape = ConvShape.Create(1, 1, 8, 8, 3, 1, 1);
        const int outChannels = 16;
        var x = new float[shape.Channels * shape.Height * shape.Width];
        var w = new float[outChannels * shape.PatchLength];
        var bias = new float[outChannels];
        var y = new float[outChannels * shape.Positions];
        var dw = new float[w.Length];
        var db = new float[outChannels];
        var dx = new float[x.Length];
        var partials = new float[HostConvolution.Chunks(shape) * HostConvolution.PartialLength(shape, outChannels)];
        fixed (float* xp = x, wp = w, bp = bias, yp = y, dwp = dw, dbp = db, dxp = dx, pp = partials)
        {
            HostConvolution.Forward(xp, wp, bp, yp, shape, outChannels);
            HostConvolution.Backward(xp, wp, yp, dwp, dbp, dxp, shape, outChannels, pp);
        }
    }

    // The recurrent cells run TensorPrimitives' vector code, which the runtime optimises only after
    // about 30 calls (tier-0 tanh is 20x slower): called that often here, on one 16-unit row.
    private static void Recurrent()
    {
        const int hidden = 16;
        // Pinned: HostRecurrent keeps pointers (as to the accelerator's native buffers).
        var gates = GC.AllocateArray<float>(4 * hidden, pinned: true);
        var bias = GC.AllocateArray<float>(4 * hidden, pinned: true);
        var c = GC.AllocateArray<float>(hidden, pinned: true);
        var h = GC.AllocateArray<float>(hidden, pinned: true);
        var dy = GC.AllocateArray<float>(hidden, pinned: true);
        for (int call = 0; call < 40; call++)
        {
            HostRecurrent.LstmStep(gates, bias, c, c, h, hidden);
            HostRecurrent.LstmStepBackward(gates, c, c, dy, dy, h, hidden);
            HostRecurrent.GruStep(gates.AsSpan(0, 3 * hidden), bias.AsSpan(0, 3 * hidden), h, c, hidden);
        }
    }

    // A training step's other host ops: activations, column sums (bias gradients), losses and optimizers.
    private static void Elementwise()
    {
        const int n = 64;
        var x = new float[n];
        var y = new float[n];
        var z = new float[n];
        var w = new float[n];
        HostOps.Relu(x, y);
        HostOps.ReluBackward(x, y, z);
        HostOps.ColumnSums(x, y, 8, 8, accumulate: false);
        HostOps.PointwiseSum(default(SquaredErrorTerm), x, y);
        HostOps.PointwiseBackward(default(SquaredErrorTerm), x, y, z, 1f);
        HostOps.OptimizerStep(new AdamRule { Lr = 1e-3f, Beta1 = 0.9f, OneMinusBeta1 = 0.1f, Beta2 = 0.999f, OneMinusBeta2 = 0.001f, Eps = 1e-8f, StepSize = 1e-3f, BiasCorrection2Sqrt = 1f }, x, y, z, w, []);
    }
}
