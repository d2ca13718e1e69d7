using System.Collections.Concurrent;
using System.Diagnostics;
using Gpu.Runtime.Backends.Host;

namespace Gpu.Tests;

/// <summary>The host path's parallel loops (HostWorkers): every index once, errors surfaced, no deadlock when loops meet.</summary>
public sealed class HostWorkersTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1000, 2)]
    [InlineData(3, 8)]
    public void EveryIndexRunsExactlyOnce(int count, int threads)
    {
        var hits = new int[count];
        HostWorkers.For(count, threads, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ALoopOnSeveralCoresRunsOnSeveralThreadsAndOnOneCoreOnTheCaller()
    {
        var caller = Environment.CurrentManagedThreadId;
        var single = new ConcurrentBag<int>();
        HostWorkers.For(16, 1, _ => single.Add(Environment.CurrentManagedThreadId));
        Assert.All(single, id => Assert.Equal(caller, id));

        if (Environment.ProcessorCount < 2)
            return;
        // Sixteen 1 ms indices: the caller alone would need 16 ms, so a worker has time to wake and take some.
        var several = new ConcurrentBag<int>();
        HostWorkers.For(16, 2, _ =>
        {
            several.Add(Environment.CurrentManagedThreadId);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalMilliseconds < 1)
            {
            }
        });
        Assert.Equal(16, several.Count);
        Assert.True(several.Distinct().Count() > 1, "all indices ran on one thread");
    }

    [Fact]
    public void AnIndexThatThrowsFailsTheLoopWithItsExceptionAndTheWorkersCarryOn()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            HostWorkers.For(100, 2, i =>
            {
                if (i == 37)
                    throw new InvalidOperationException("index 37");
            }));
        Assert.Equal("index 37", error.Message);

        var hits = new int[100];
        HostWorkers.For(100, 2, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ALoopInsideALoopRunsOnItsCaller()
    {
        var hits = new int[8, 50];
        HostWorkers.For(8, 2, outer => HostWorkers.For(50, 2, inner => Interlocked.Increment(ref hits[outer, inner])));
        foreach (int h in hits)
            Assert.Equal(1, h);
    }

    [Fact]
    public async Task LoopsFromSeveralThreadsAtOnceAllComplete()
    {
        const int callers = 4, loops = 200, count = 64;
        var hits = new int[callers, count];
        var tasks = Enumerable.Range(0, callers).Select(c => Task.Run(() =>
        {
            for (int loop = 0; loop < loops; loop++)
                HostWorkers.For(count, 2, i => Interlocked.Increment(ref hits[c, i]));
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(1));
        foreach (int h in hits)
            Assert.Equal(loops, h);
    }
}
