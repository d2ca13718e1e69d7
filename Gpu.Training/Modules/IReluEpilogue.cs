using Gpu.Runtime;

namespace Gpu.Training;

/// <summary>
/// A layer that can apply a following <see cref="ReLU"/> as it writes its output, in the same op
/// (<see cref="Sequential"/> pairs them): the values are those of the two layers one after the
/// other, and the layer's backward pass does not read its output, so it is unchanged.
/// </summary>
internal interface IReluEpilogue
{
    /// <summary>The forward pass, then torch.relu's rule on the output when <paramref name="relu"/>.</summary>
    Tensor Forward(Tensor input, bool relu);
}
