using Gpu.Runtime.Backends.Host;

namespace Gpu.Tests;

/// <summary>The background warm-up of the host path swallows its errors, so its calls are checked here.</summary>
public sealed class HostWarmUpTests
{
    [Fact]
    public void TheWarmUpsCallsAreValidHostOps() => HostWarmUp.Run();
}
