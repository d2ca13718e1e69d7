namespace Gpu.Runtime;

/// <summary>
/// A row-major shape: dimensions outermost first. Rank 0 is a scalar (one element). Immutable;
/// prints as PyTorch does, e.g. <c>(32, 784)</c>.
/// </summary>
public sealed class TensorShape : IEquatable<TensorShape>
{
    private readonly int[] dims;

    public TensorShape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        long length = 1;
        foreach (int d in dims)
        {
            if (d < 0)
                throw new ArgumentException($"Tensor shape {Format(dims)} has a negative dimension.", nameof(dims));
            length = checked(length * d);
        }

        // Kernels index with 32-bit integers.
        if (length > int.MaxValue)
            throw new ArgumentException($"Tensor shape {Format(dims)} has {length} elements; at most {int.MaxValue} are supported.", nameof(dims));
        this.dims = (int[])dims.Clone();
        Length = (int)length;
    }

    /// <summary>The shape of a scalar.</summary>
    public static TensorShape Scalar { get; } = new();

    public int Rank => dims.Length;

    /// <summary>Number of elements (the product of the dimensions; 1 for a scalar).</summary>
    public int Length { get; }

    public int this[int axis] => dims[axis];

    /// <summary>Rows of a matrix (rank 2), or the length of a vector.</summary>
    public int Rows => Rank == 0 ? 1 : dims[0];

    /// <summary>Columns of a matrix (rank 2); 1 for a vector.</summary>
    public int Columns => Rank < 2 ? 1 : dims[^1];

    public int[] ToArray() => (int[])dims.Clone();

    public bool Equals(TensorShape? other) => other is not null && dims.AsSpan().SequenceEqual(other.dims);

    public override bool Equals(object? obj) => Equals(obj as TensorShape);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int d in dims)
            hash.Add(d);
        return hash.ToHashCode();
    }

    public override string ToString() => Format(dims);

    private static string Format(int[] dims) => dims.Length == 1 ? $"({dims[0]},)" : $"({string.Join(", ", dims)})";
}
