using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Gpu.Runtime.Backends.Host;

/// <summary>
/// The host path's worker threads: one background thread for each core past the first that a loop
/// asks for, started on first use, which run a parallel loop's indices with the calling thread.
/// Between loops a worker spins for <see cref="SpinTime"/> before it sleeps, so the back-to-back
/// ops of a training step find it awake: handing a loop to the thread pool (Parallel.For) cost
/// 10-20 µs here, which made a 128³ product slower on two cores than on one; a loop costs about
/// 2 µs this way. Indices are taken one at a time from a shared counter; each index's work does not
/// depend on who runs it, so neither do the results. One loop at a time: a loop started inside
/// another, or from a second thread while one runs, runs its indices on the calling thread.
/// </summary>
internal static class HostWorkers
{
    // How long an idle worker keeps checking for work before it sleeps: long enough to span the
    // gaps between a training step's ops, short enough to leave an idle process idle.
    private static readonly long SpinTime = Stopwatch.Frequency / 5000; // 200 µs

    private static readonly object Gate = new();
    private static int workers;
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

    // Workers are started as loops need them (a process that shares its machine with other ranks
    // asks for fewer cores, HostThreads.Set) and never stopped.
    private static void EnsureWorkers(int needed)
    {
        for (; workers < needed; workers++)
        {
            int index = workers;
            new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"host worker {index + 1}" }.Start();
        }
    }

    // Worker `index` helps with loops that want more than `index` helpers; after one it did not
    // help with (the core count was lowered) it sleeps instead of spinning.
    private static void WorkerLoop(int index)
    {
        isWorker = true;
        Loop? seen = null;
        bool helped = true;
        while (true)
        {
            var loop = WaitForLoop(seen, spin: helped);
            seen = loop;
            helped = index < loop.Helpers;
            if (helped)
                loop.Work();
        }
    }

    // The next loop other than `seen`: spins while one may come soon, then sleeps until one is posted.
    private static Loop WaitForLoop(Loop? seen, bool spin)
    {
        long idleSince = Stopwatch.GetTimestamp();
        while (true)
        {
            var loop = Volatile.Read(ref current);
            if (loop is not null && loop != seen)
                return loop;
            if (spin && Stopwatch.GetTimestamp() - idleSince < SpinTime)
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
        private Exception? error;

        /// <summary>How many workers help the caller (workers 0 .. Helpers - 1).</summary>
        public int Helpers { get; } = helpers;

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
