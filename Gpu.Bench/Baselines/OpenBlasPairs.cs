using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Gpu.Runtime;

namespace Gpu.Bench.Baselines;

/// <summary>
/// `openblas [--threads N] [SIZE | MxNxK ...]`: our host matrix product against OpenBLAS's sgemm in
/// one process, batches of calls alternating, so that a shared machine whose speed changes from
/// second to second slows both alike. Prints, per shape and form (NN, NT, TN), each side's median
/// time and the median of 41 per-pair ratios with its quartiles: this resolves differences of a
/// few percent where separate runs move by 2x. Loads libopenblas.so.0 at run time (Debian's
/// libopenblas0-pthread; set OPENBLAS_CORETYPE where OpenBLAS misdetects the CPU). By hand only.
/// </summary>
internal static unsafe class OpenBlasPairs
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    public static int Run(string[] args, int threads)
    {
        if (!NativeLibrary.TryLoad("libopenblas.so.0", out var library))
        {
            Console.Error.WriteLine("error: libopenblas.so.0 not found (Debian: apt-get install libopenblas0-pthread)");
            return 1;
        }

        var sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(library, "cblas_sgemm");
        var setThreads = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(library, "openblas_set_num_threads");
        setThreads(threads);
        using var device = Device.CreateCpu(threads: threads);
        Console.WriteLine($"ours on {threads} thread(s) against OpenBLAS on {threads} (OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "unset"})");
        // In one process OpenBLAS's idle threads keep spinning after each call and take turns on
        // the cores with our workers: several-thread pairs then turn bimodal (ours up to 2x slower).
        if (threads > 1 && Environment.GetEnvironmentVariable("OPENBLAS_THREAD_TIMEOUT") is null)
            Console.WriteLine("note: OPENBLAS_THREAD_TIMEOUT is unset, so OpenBLAS's idle threads spin on our cores between calls; set it to 4 for steady pairs");
        var random = new Random(1);
        string[] shapes = args.Length > 0 ? args : ["128", "256", "512", "1024"];
        foreach (string text in shapes)
        {
            int[] p = [.. text.Split('x').Select(v => int.Parse(v, CultureInfo.InvariantCulture))];
            var (m, n, k) = p.Length == 1 ? (p[0], p[0], p[0]) : (p[0], p[1], p[2]);
            foreach (var (transposeA, transposeB) in new[] { (false, false), (false, true), (true, false) })
            {
                float[] a = [.. Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble())];
                float[] b = [.. Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble())];
                using var ta = device.FromArray(a, transposeA ? k : m, transposeA ? m : k);
                using var tb = device.FromArray(b, transposeB ? n : k, transposeB ? k : n);
                using var tc = device.Zeros(m, n);
                // OpenBLAS gets 64-byte aligned copies, as our tensors are (and PyTorch's).
                using var pa = new AlignedFloats(a);
                using var pb = new AlignedFloats(b);
                using var pc = new AlignedFloats(new float[m * n]);
                void Ours() => Ops.MatMul(ta, tb, tc, transposeA, transposeB);
                void Theirs() =>
                    sgemm(RowMajor, transposeA ? Trans : NoTrans, transposeB ? Trans : NoTrans, m, n, k, 1f, pa.Pointer, transposeA ? m : k, pb.Pointer, transposeB ? k : n, 0f, pc.Pointer, n);

                var (ours, theirs, ratio, low, high) = Pairs(Ours, Theirs);
                string form = $"{(transposeA ? 'T' : 'N')}{(transposeB ? 'T' : 'N')}";
                Console.WriteLine(FormattableString.Invariant(
                    $"{m}x{n}x{k} {form}: OpenBLAS {theirs * 1e6:F1} us, ours {ours * 1e6:F1} us, ours / OpenBLAS {ratio:F3} (quartiles {low:F3}-{high:F3})"));
            }
        }

        return 0;
    }

    // Medians of each side's time per call and of the per-pair ratios, with the ratios' quartiles.
    private static (double Ours, double Theirs, double Ratio, double Low, double High) Pairs(Action ours, Action theirs)
    {
        ours();
        theirs();
        var probe = Stopwatch.StartNew();
        ours();
        int calls = (int)Math.Clamp(0.02 / Math.Max(probe.Elapsed.TotalSeconds, 1e-7), 1, 100_000);
        var ourTimes = new List<double>();
        var theirTimes = new List<double>();
        var ratios = new List<double>();
        for (int pair = 0; pair < 41; pair++)
        {
            double t = Time(theirs, calls), o = Time(ours, calls);
            theirTimes.Add(t);
            ourTimes.Add(o);
            ratios.Add(o / t);
        }

        ourTimes.Sort();
        theirTimes.Sort();
        ratios.Sort();
        return (ourTimes[20], theirTimes[20], ratios[20], ratios[10], ratios[30]);
    }

    private static double Time(Action call, int calls)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++)
            call();
        return clock.Elapsed.TotalSeconds / calls;
    }

    /// <summary>A copy of an array in native memory on a 64-byte boundary.</summary>
    private sealed class AlignedFloats : IDisposable
    {
        public AlignedFloats(float[] values)
        {
            Pointer = (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(values.Length, 1) * sizeof(float)), 64);
            values.CopyTo(new Span<float>(Pointer, values.Length));
        }

        public float* Pointer { get; }

        public void Dispose() => NativeMemory.AlignedFree(Pointer);
    }
}
