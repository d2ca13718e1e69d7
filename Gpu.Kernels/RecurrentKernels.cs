using ILGPU;
using ILGPU.Algorithms;

namespace Gpu.Kernels;

/// <summary>
/// One time step of the recurrent cells' gate arithmetic, fused: one thread per (sample, hidden unit),
/// after the products (PyTorch 1.13's nn.LSTM and nn.GRU; time-major buffers, so step t's rows are
/// contiguous). The input projection of all steps is one product before the loop, the hidden
/// projection one product per step; these kernels do the rest of the step. The host path runs the
/// same arithmetic in the same order row by row, with vectorised sigmoid and tanh (HostRecurrent in
/// Gpu.Runtime; the GRU's backward calls <see cref="GruCellBackward"/> itself).
/// <code>
/// LSTM (gates i, f, g, o; G = x W_ih^T + b_ih + h W_hh^T, then + b_hh here):
///   i = sigmoid  f = sigmoid  g = tanh  o = sigmoid;  c' = f c + i g;  h' = o tanh(c')
///   the activated gates replace G (kept for backward)
/// LSTM backward (dh = dy_t + dh from step t + 1; dc from step t + 1):
///   dc = dh o (1 - tanh^2 c') + dc;  do = dh tanh c';  di = dc g;  dg = dc i;  df = dc c;  dc_prev = dc f
///   dG = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]  (replaces the gates)
/// GRU (gates r, z, n; GI = x W_ih^T + b_ih, GH = h W_hh^T + b_hh):
///   r = sigmoid(GI_r + GH_r)  z = sigmoid(GI_z + GH_z)  n = tanh(GI_n + r GH_n);  h' = (1 - z) n + z h
///   r, z, n replace GI (kept for backward with GH)
/// GRU backward (dh = dy_t + dh from step t + 1):
///   dn = dh (1 - z) (1 - n^2);  dz = dh (h - n) z (1 - z);  dr = dn GH_n r (1 - r);  dh_prev = dh z (+ dGH W_hh)
///   dGI = [dr, dz, dn];  dGH = [dr, dz, dn r]
/// </code>
/// </summary>
public static class RecurrentKernels
{
    /// <summary>An LSTM step: G (N, 4H) holds the step's projections; writes c and h (from <paramref name="cPrev"/> when <paramref name="hasPrev"/>).</summary>
    [Kernel]
    public static void LstmStep(
        Index1D index, ArrayView<float> g, ArrayView<float> biasHh, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h, int hidden, int hasPrev, int n, int stride)
    {
        for (int e = index; e < n; e += stride)
        {
            int row = e / hidden, j = e - row * hidden, at = row * 4 * hidden + j;
            float i = g[at] + biasHh[j], f = g[at + hidden] + biasHh[hidden + j];
            float gg = g[at + 2 * hidden] + biasHh[2 * hidden + j], o = g[at + 3 * hidden] + biasHh[3 * hidden + j];
            LstmCell(ref i, ref f, ref gg, ref o, hasPrev != 0 ? cPrev[e] : 0f, out float cell, out float next);
            g[at] = i;
            g[at + hidden] = f;
            g[at + 2 * hidden] = gg;
            g[at + 3 * hidden] = o;
            c[e] = cell;
            h[e] = next;
        }
    }

    /// <summary>
    /// An LSTM step backward: G (N, 4H) holds the step's activated gates and becomes the gates'
    /// gradients; <paramref name="dc"/> (N, H) carries dc from step t + 1 in (when <paramref name="hasNext"/>)
    /// and dc_prev out; dh = dy + dhNext.
    /// </summary>
    [Kernel]
    public static void LstmStepBackward(
        Index1D index, ArrayView<float> g, ArrayView<float> c, ArrayView<float> cPrev, ArrayView<float> dy, ArrayView<float> dhNext, ArrayView<float> dc,
        int hidden, int hasPrev, int hasNext, int n, int stride)
    {
        for (int e = index; e < n; e += stride)
        {
            int row = e / hidden, j = e - row * hidden, at = row * 4 * hidden + j;
            float i = g[at], f = g[at + hidden], gg = g[at + 2 * hidden], o = g[at + 3 * hidden];
            float dcell = hasNext != 0 ? dc[e] : 0f;
            LstmCellBackward(ref i, ref f, ref gg, ref o, c[e], hasPrev != 0 ? cPrev[e] : 0f, dy[e] + (hasNext != 0 ? dhNext[e] : 0f), ref dcell);
            g[at] = i;
            g[at + hidden] = f;
            g[at + 2 * hidden] = gg;
            g[at + 3 * hidden] = o;
            dc[e] = dcell;
        }
    }

    /// <summary>A GRU step: GI (N, 3H) and GH (N, 3H) hold the step's projections (biases included); writes h from <paramref name="hPrev"/>.</summary>
    [Kernel]
    public static void GruStep(
        Index1D index, ArrayView<float> gi, ArrayView<float> gh, ArrayView<float> hPrev, ArrayView<float> h, int hidden, int hasPrev, int n, int stride)
    {
        for (int e = index; e < n; e += stride)
        {
            int row = e / hidden, j = e - row * hidden, at = row * 3 * hidden + j;
            float r = gi[at], z = gi[at + hidden], nn = gi[at + 2 * hidden];
            GruCell(ref r, ref z, ref nn, gh[at], gh[at + hidden], gh[at + 2 * hidden], hasPrev != 0 ? hPrev[e] : 0f, out float next);
            gi[at] = r;
            gi[at + hidden] = z;
            gi[at + 2 * hidden] = nn;
            h[e] = next;
        }
    }

    /// <summary>
    /// A GRU step backward: GI becomes dGI and GH becomes dGH (the recurrent product's gradient);
    /// writes the direct part of dh_prev, <c>dh z</c>, into <paramref name="dhPrev"/> (the caller adds dGH W_hh).
    /// </summary>
    [Kernel]
    public static void GruStepBackward(
        Index1D index, ArrayView<float> gi, ArrayView<float> gh, ArrayView<float> hPrev, ArrayView<float> dy, ArrayView<float> dhNext, ArrayView<float> dhPrev,
        int hidden, int hasPrev, int hasNext, int n, int stride)
    {
        for (int e = index; e < n; e += stride)
        {
            int row = e / hidden, j = e - row * hidden, at = row * 3 * hidden + j;
            float r = gi[at], z = gi[at + hidden], nn = gi[at + 2 * hidden], ghr = gh[at], ghz = gh[at + hidden], ghn = gh[at + 2 * hidden];
            GruCellBackward(ref r, ref z, ref nn, ref ghr, ref ghz, ref ghn, hasPrev != 0 ? hPrev[e] : 0f, dy[e] + (hasNext != 0 ? dhNext[e] : 0f), out float direct);
            gi[at] = r;
            gi[at + hidden] = z;
            gi[at + 2 * hidden] = nn;
            gh[at] = ghr;
            gh[at + hidden] = ghz;
            gh[at + 2 * hidden] = ghn;
            dhPrev[e] = direct;
        }
    }

    /// <summary>The LSTM cell of one unit: the four pre-activations in, the activated gates out, with the new c and h.</summary>
    public static void LstmCell(ref float i, ref float f, ref float g, ref float o, float cPrev, out float c, out float h)
    {
        i = Sigmoid(i);
        f = Sigmoid(f);
        g = XMath.Tanh(g);
        o = Sigmoid(o);
        c = f * cPrev + i * g;
        h = o * XMath.Tanh(c);
    }

    /// <summary>Its backward: the activated gates in, the pre-activations' gradients out; dc from the next step in, dc_prev out.</summary>
    public static void LstmCellBackward(ref float i, ref float f, ref float g, ref float o, float c, float cPrev, float dh, ref float dc)
    {
        float tc = XMath.Tanh(c);
        float dcell = dh * o * (1f - tc * tc) + dc;
        float di = dcell * g * i * (1f - i);
        float df = dcell * cPrev * f * (1f - f);
        float dg = dcell * i * (1f - g * g);
        float dout = dh * tc * o * (1f - o);
        dc = dcell * f;
        (i, f, g, o) = (di, df, dg, dout);
    }

    /// <summary>The GRU cell of one unit: the input projections r, z, n in and the gates out, given the hidden projections.</summary>
    public static void GruCell(ref float r, ref float z, ref float n, float ghR, float ghZ, float ghN, float hPrev, out float h)
    {
        r = Sigmoid(r + ghR);
        z = Sigmoid(z + ghZ);
        n = XMath.Tanh(n + r * ghN);
        h = (1f - z) * n + z * hPrev;
    }

    /// <summary>Its backward: gates in, dGI out (r, z, n); the hidden projections in, dGH out; the direct part of dh_prev out.</summary>
    public static void GruCellBackward(ref float r, ref float z, ref float n, ref float ghR, ref float ghZ, ref float ghN, float hPrev, float dh, out float dhPrev)
    {
        float dn = dh * (1f - z) * (1f - n * n);
        float dz = dh * (hPrev - n) * z * (1f - z);
        float dr = dn * ghN * r * (1f - r);
        dhPrev = dh * z;
        ghN = dn * r;
        (r, z, n, ghR, ghZ) = (dr, dz, dn, dr, dz);
    }

    /// <summary>The logistic function, exp only of a non-positive number (as the losses').</summary>
    public static float Sigmoid(float x) => LossKernels.Sigmoid(x);
}
