using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Gpu.Runtime.Host;

/// <summary>
/// The host path's worker threads: <c>ProcessorCount - 1</c> background threads, started on first
/// use, that run the indices of a parallel loop with the calling thread. Between loops a worker
/// spins for <see cref="SpinTime"/> before it sleeps, so the back-to-back ops of a training step
/// find it awake: handing a loop to the thread pool (Parallel.For) cost 10-20 µs a call here, which
/// made a 128³ product on two cores slower than on one (30 against 40 µs) while OpenBLAS's own
/// spinning threads ran it 1.8x faster. Indices are taken one at a time from a shared counter; each
/// index's work is independent of who runs it, so results do not depend on the threads.
/// One loop at a time: a loop started inside another, or from a second thread while one runs,
/// runs its indices on the calling thread.
/// </summary>
internal static class HostWorkers
{
    // How long an idle worker keeps checking for work before it sleeps: long enough to span the
    // gaps between a training step's ops, short enough to leave an idle process idle.
    private static readonly long SpinTime = Stopwatch.Frequency / 5000; // 200 µs

    private static readonly object Gate = new();
    private static Thread[] workers = [];
    private static Loop? current;
    private static int busy;
    private static int sleepers;

    [ThreadStatic]
    private static bool isWorker;

    /// <summary>Runs <paramref name="body"/> for every index in [0, <paramref name="count"/>) on up to <paramref name="threads"/> threads, the caller among them; returns when all have run.</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        threads = Math.Min(threads, count);
        if (threads <= 1 || isWorker || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++)
                body(i);
            return;
        }

        try
        {
            EnsureWorkers(threads - 1);
            var loop = new Loop(body, count, threads - 1);
            Interlocked.Exchange(ref current, loop); // a full fence, before sleepers is read

            if (Volatile.Read(ref sleepers) > 0)
            {
                lock (Gate)
                    Monitor.PulseAll(Gate);
            }

            loop.Work();
            loop.WaitForAll();
            Volatile.Write(ref current, null);
            loop.ThrowIfFailed();
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    private static void EnsureWorkers(int needed)
    {
        if (workers.Length >= needed)
            return;
        var started = new Thread[Math.Max(needed, Environment.ProcessorCount - 1)];
        workers.CopyTo(started, 0);
        for (int i = workers.Length; i < started.Length; i++)
        {
            started[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"host worker {i + 1}" };
            started[i].Start();
        }

        workers = started;
    }

    private static void WorkerLoop()
    {
        isWorker = true;
        Loop? seen = null;
        while (true)
        {
            var loop = WaitForLoop(seen);
            seen = loop;
            if (loop.Join())
                loop.Work();
        }
    }

    // The next loop other than `seen`: spins while one may come soon, then sleeps until one is posted.
    private static Loop WaitForLoop(Loop? seen)
    {
        long idleSince = Stopwatch.GetTimestamp();
        while (true)
        {
            var loop = Volatile.Read(ref current);
            if (loop is not null && loop != seen)
                return loop;
            if (Stopwatch.GetTimestamp() - idleSince < SpinTime)
            {
                Thread.SpinWait(20);
                continue;
            }

            lock (Gate)
            {
                Interlocked.Increment(ref sleepers);
                loop = Volatile.Read(ref current);
                if (loop is null || loop == seen)
                    Monitor.Wait(Gate);
                Interlocked.Decrement(ref sleepers);
            }

            idleSince = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>One parallel loop: its own counters, so a worker that arrives late finds nothing left of it.</summary>
    private sealed class Loop(Action<int> body, int count, int helpers)
    {
        private readonly int count = count;
        private int next;
        private int unfinished = count;
        private int joined;
        private Exception? error;

        /// <summary>Whether a worker may help (at most `helpers` do).</summary>
        public bool Join() => Interlocked.Increment(ref joined) <= helpers;

        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                try
                {
                    body(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, e, null);
                }

                Interlocked.Decrement(ref unfinished);
            }
        }

        // The caller has run out of indices; the workers finish theirs (spinning first: they are
        // usually a fraction of an index behind).
        public void WaitForAll()
        {
            long start = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref unfinished) > 0)
            {
                if (Stopwatch.GetTimestamp() - start < SpinTime)
                    Thread.SpinWait(20);
                else
                    Thread.Yield();
            }
        }

        public void ThrowIfFailed()
        {
            if (error is not null)
                ExceptionDispatchInfo.Throw(error);
        }
    }
}
