namespace Gpu.Runtime;

/// <summary>How a loss combines its per-item terms (PyTorch's <c>reduction</c> argument).</summary>
public enum Reduction
{
    /// <summary>Average over all items (PyTorch's default).</summary>
    Mean,

    /// <summary>Sum over all items.</summary>
    Sum,

    /// <summary>No reduction: one value per item.</summary>
    None,
}
