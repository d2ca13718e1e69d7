using ILGPU;

namespace Gpu.Kernels;

/// <summary>
/// One optimizer's update of one parameter, as a small struct of the step's scalars (learning rate,
/// betas, bias corrections, ...) handed in per launch, so a schedule can change them every step as
/// llm.c passes lr. One generic kernel (<see cref="OptimizerKernels.Step{TRule}"/>) and one host loop
/// serve every rule: a new optimizer is its rule struct.
/// </summary>
public interface IOptimizerRule
{
    /// <summary>
    /// Updates parameter <paramref name="p"/> from its gradient <paramref name="g"/> and up to three
    /// state values, in the order of the optimizer's state (Adam: exp_avg, exp_avg_sq,
    /// max_exp_avg_sq). A state the configuration does not use is a stand-in that must not be written.
    /// </summary>
    void Update(ref float p, float g, ref float s0, ref float s1, ref float s2);

    /// <summary>
    /// The host path's vector form of <see cref="Update"/> over the leading elements it can take
    /// (unused states are empty spans); returns how many it updated, 0 when the rule has no vector
    /// form. The scalar <see cref="Update"/> runs the rest. Never called by a kernel.
    /// </summary>
    int UpdateVectors(Span<float> p, ReadOnlySpan<float> g, Span<float> s0, Span<float> s1, Span<float> s2);
}

/// <summary>
/// Fused optimizer updates over one flat parameter buffer: one launch updates every parameter of a
/// model (llm.c's design). Adam moves 28 bytes per parameter (reads p, g, m, v; writes p, m, v): it is
/// bandwidth-bound.
/// </summary>
public static class OptimizerKernels
{
    /// <summary>One step of any rule over n parameters; s0..s2 are its state buffers (stand-ins where unused).</summary>
    [Kernel]
    public static void Step<TRule>(
        Index1D index, ArrayView<float> p, ArrayView<float> g, ArrayView<float> s0, ArrayView<float> s1, ArrayView<float> s2,
        TRule rule, int n, int stride)
        where TRule : struct, IOptimizerRule
    {
        for (int i = index; i < n; i += stride)
            rule.Update(ref p[i], g[i], ref s0[i], ref s1[i], ref s2[i]);
    }
}
