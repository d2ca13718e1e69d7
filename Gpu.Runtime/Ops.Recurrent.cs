using Gpu.Kernels;
using Gpu.Runtime.Backends;
using Gpu.Runtime.Backends.Host;
using Gpu.Runtime.Backends.Kernels;

namespace Gpu.Runtime;

public static partial class Ops
{
    /// <summary>
    /// One LSTM time step after its products (<see cref="RecurrentKernels"/>): <paramref name="gates"/>
    /// (N, 4H) holds <c>x W_ih^T + b_ih + h W_hh^T</c> and receives the activated gates i, f, g, o;
    /// <c>c = f cPrev + i g</c> and <c>h = o tanh(c)</c> are written (cPrev null: the zero state).
    /// </summary>
    public static void LstmStep(Tensor gates, Tensor biasHh, Tensor? cPrev, Tensor c, Tensor h)
    {
        const string op = nameof(LstmStep);
        var (d, hidden) = CheckCell(op, gates, 4, c, "c");
        Check.Usable(op, biasHh, "biasHh", d);
        if (biasHh.Length != 4 * hidden)
            throw new ShapeMismatchException($"{op}: biasHh {biasHh.Shape} must hold {4 * hidden} values.");
        CheckState(op, d, c, cPrev, "cPrev");
        CheckState(op, d, c, h, "h");
        if (c.Length > 0)
            d.Dispatch().Run(new LstmStepOp(gates, biasHh, cPrev, c, h, hidden));
    }

    /// <summary>
    /// One LSTM step backward: <paramref name="gates"/> (the step's activated gates) receives their
    /// pre-activations' gradients; <paramref name="dc"/> carries dc from the next step in (ignored when
    /// <paramref name="dhNext"/> is null: the last step) and dc_prev out; dh = dy + dhNext.
    /// </summary>
    public static void LstmStepBackward(Tensor gates, Tensor c, Tensor? cPrev, Tensor dy, Tensor? dhNext, Tensor dc)
    {
        const string op = nameof(LstmStepBackward);
        var (d, hidden) = CheckCell(op, gates, 4, c, "c");
        CheckState(op, d, c, cPrev, "cPrev");
        CheckState(op, d, c, dy, "dy");
        CheckState(op, d, c, dhNext, "dhNext");
        CheckState(op, d, c, dc, "dc");
        if (c.Length > 0)
            d.Dispatch().Run(new LstmStepBackwardOp(gates, c, cPrev, dy, dhNext, dc, hidden));
    }

    /// <summary>
    /// One GRU time step after its products: <paramref name="inputGates"/> (N, 3H) holds
    /// <c>x W_ih^T + b_ih</c> and receives r, z, n; <paramref name="hiddenGates"/> holds
    /// <c>h W_hh^T + b_hh</c> (kept for backward); <c>h = (1 - z) n + z hPrev</c> (hPrev null: the zero state).
    /// </summary>
    public static void GruStep(Tensor inputGates, Tensor hiddenGates, Tensor? hPrev, Tensor h)
    {
        const string op = nameof(GruStep);
        var (d, hidden) = CheckCell(op, inputGates, 3, h, "h");
        Check.Usable(op, hiddenGates, "hiddenGates", d);
        Check.SameShape(op, inputGates, "inputGates", hiddenGates, "hiddenGates");
        CheckState(op, d, h, hPrev, "hPrev");
        if (h.Length > 0)
            d.Dispatch().Run(new GruStepOp(inputGates, hiddenGates, hPrev, h, hidden));
    }

    /// <summary>
    /// One GRU step backward: the gates become the input projection's gradients, the hidden
    /// projections the recurrent product's; <paramref name="dhPrev"/> receives <c>dh z</c>, to which the
    /// caller adds <c>dGH W_hh</c>; dh = dy + dhNext.
    /// </summary>
    public static void GruStepBackward(Tensor inputGates, Tensor hiddenGates, Tensor? hPrev, Tensor dy, Tensor? dhNext, Tensor dhPrev)
    {
        const string op = nameof(GruStepBackward);
        var (d, hidden) = CheckCell(op, inputGates, 3, dy, "dy");
        Check.Usable(op, hiddenGates, "hiddenGates", d);
        Check.SameShape(op, inputGates, "inputGates", hiddenGates, "hiddenGates");
        CheckState(op, d, dy, hPrev, "hPrev");
        CheckState(op, d, dy, dhNext, "dhNext");
        CheckState(op, d, dy, dhPrev, "dhPrev");
        if (dy.Length > 0)
            d.Dispatch().Run(new GruStepBackwardOp(inputGates, hiddenGates, hPrev, dy, dhNext, dhPrev, hidden));
    }

    // gates (N, k H) against a state (N, H); returns the device and H.
    private static (Device Device, int Hidden) CheckCell(string op, Tensor gates, int count, Tensor state, string role)
    {
        var d = Check.Usable(op, gates, "gates");
        Check.Usable(op, state, role, d);
        Check.Rank(op, gates, "gates", 2);
        Check.Rank(op, state, role, 2);
        if (gates.Shape[0] != state.Shape[0] || gates.Shape[1] != count * state.Shape[1])
            throw new ShapeMismatchException($"{op}: gates {gates.Shape} must be ({state.Shape[0]}, {count * state.Shape[1]}) for {role} {state.Shape}.");
        return (d, state.Shape[1]);
    }

    private static void CheckState(string op, Device d, Tensor like, Tensor? state, string role)
    {
        if (state is null)
            return;
        Check.Usable(op, state, role, d);
        Check.SameShape(op, like, "state", state, role);
    }

    private readonly struct LstmStepOp(Tensor g, Tensor bias, Tensor? cPrev, Tensor c, Tensor h, int hidden) : IDeviceOp
    {
        public void RunOnHost(HostBackend host) =>
            HostRecurrent.LstmStep(g.HostSpan, bias.HostSpan, cPrev is null ? [] : cPrev.HostSpan, c.HostSpan, h.HostSpan, hidden);

        public void RunOnKernels(KernelBackend k)
        {
            int n = c.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(RecurrentKernels.LstmStep, k.Stream, threads, g.Flat, bias.Flat, (cPrev ?? c).Flat, c.Flat, h.Flat, hidden, cPrev is null ? 0 : 1, n, threads);
        }
    }

    private readonly struct LstmStepBackwardOp(Tensor g, Tensor c, Tensor? cPrev, Tensor dy, Tensor? dhNext, Tensor dc, int hidden) : IDeviceOp
    {
        public void RunOnHost(HostBackend host) =>
            HostRecurrent.LstmStepBackward(g.HostSpan, c.HostSpan, cPrev is null ? [] : cPrev.HostSpan, dy.HostSpan, dhNext is null ? [] : dhNext.HostSpan, dc.HostSpan, hidden);

        public void RunOnKernels(KernelBackend k)
        {
            int n = c.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(RecurrentKernels.LstmStepBackward, k.Stream, threads, g.Flat, c.Flat, (cPrev ?? c).Flat, dy.Flat, (dhNext ?? dy).Flat, dc.Flat,
                hidden, cPrev is null ? 0 : 1, dhNext is null ? 0 : 1, n, threads);
        }
    }

    private readonly struct GruStepOp(Tensor gi, Tensor gh, Tensor? hPrev, Tensor h, int hidden) : IDeviceOp
    {
        public void RunOnHost(HostBackend host) =>
            HostRecurrent.GruStep(gi.HostSpan, gh.HostSpan, hPrev is null ? [] : hPrev.HostSpan, h.HostSpan, hidden);

        public void RunOnKernels(KernelBackend k)
        {
            int n = h.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(RecurrentKernels.GruStep, k.Stream, threads, gi.Flat, gh.Flat, (hPrev ?? h).Flat, h.Flat, hidden, hPrev is null ? 0 : 1, n, threads);
        }
    }

    private readonly struct GruStepBackwardOp(Tensor gi, Tensor gh, Tensor? hPrev, Tensor dy, Tensor? dhNext, Tensor dhPrev, int hidden) : IDeviceOp
    {
        public void RunOnHost(HostBackend host)
        {
            Span<float> gis = gi.HostSpan, ghs = gh.HostSpan, direct = dhPrev.HostSpan;
            ReadOnlySpan<float> dys = dy.HostSpan, previous = hPrev is null ? [] : hPrev.HostSpan, next = dhNext is null ? [] : dhNext.HostSpan;
            for (int e = 0; e < dys.Length; e++)
            {
                int row = e / hidden, j = e - row * hidden, at = row * 3 * hidden + j;
                float r = gis[at], z = gis[at + hidden], nn = gis[at + 2 * hidden], hr = ghs[at], hz = ghs[at + hidden], hn = ghs[at + 2 * hidden];
                RecurrentKernels.GruCellBackward(ref r, ref z, ref nn, ref hr, ref hz, ref hn, previous.IsEmpty ? 0f : previous[e], dys[e] + (next.IsEmpty ? 0f : next[e]), out direct[e]);
                (gis[at], gis[at + hidden], gis[at + 2 * hidden]) = (r, z, nn);
                (ghs[at], ghs[at + hidden], ghs[at + 2 * hidden]) = (hr, hz, hn);
            }
        }

        public void RunOnKernels(KernelBackend k)
        {
            int n = dy.Length, threads = k.Geometry.Threads(n);
            k.Kernels.Launch(RecurrentKernels.GruStepBackward, k.Stream, threads, gi.Flat, gh.Flat, (hPrev ?? dy).Flat, dy.Flat, (dhNext ?? dy).Flat, dhPrev.Flat,
                hidden, hPrev is null ? 0 : 1, dhNext is null ? 0 : 1, n, threads);
        }
    }
}
