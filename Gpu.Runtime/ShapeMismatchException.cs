namespace Gpu.Runtime;

/// <summary>
/// Thrown by an op launcher before launching when its operands do not fit together. The message
/// names the op and both shapes, e.g. <c>MatMul: lhs (32, 784) and rhs (128, 10): 784 != 128</c>.
/// </summary>
public sealed class ShapeMismatchException(string message) : ArgumentException(message);

/// <summary>Thrown when a requested device is absent or cannot be used; the message lists what was found.</summary>
public sealed class DeviceNotFoundException(string message) : InvalidOperationException(message);
