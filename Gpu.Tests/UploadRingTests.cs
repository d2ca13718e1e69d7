using Gpu.Runtime;

namespace Gpu.Tests;

/// <summary>
/// The upload ring that carries host-resident batches to the device: what is sent arrives, whole or
/// in part, on every device; a slot used out of turn is an error naming the slot and its state, so
/// the feed's order is checked even where streams run synchronously.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class UploadRingTests(DeviceFixture devices)
{
    [SkippableTheory]
    [MemberData(nameof(Profiles.Devices), MemberType = typeof(Profiles))]
    public void WhatIsSentArrivesInEverySlotWholeOrInPart(string profile)
    {
        var device = devices.Get(profile);
        using var ring = new UploadRing(device, 3, new TensorShape(5, 2, 3), new TensorShape(5, 1));
        for (int turn = 0; turn < 7; turn++)
        {
            int slot = turn % 3, rows = turn % 5 + 1;
            var x = Numerics.Random(rows * 6, turn);
            var y = Numerics.Random(rows, 100 + turn);
            x.CopyTo(ring.Staging(slot, 0));
            y.CopyTo(ring.Staging(slot, 1));
            ring.Send(slot, rows);
            Assert.True(ring.IsSent(slot));
            ring.Receive(slot);
            Assert.Equal(x, ring.Tensor(slot, 0).ToArray().AsSpan(0, rows * 6).ToArray());
            Assert.Equal(y, ring.Tensor(slot, 1).ToArray().AsSpan(0, rows).ToArray());
            ring.Release(slot);
        }
    }

    [Theory]
    [InlineData("host")]
    [InlineData("fast")]
    public void ASlotUsedOutOfTurnIsAnError(string profile)
    {
        using var ring = new UploadRing(devices.Get(profile), 2, new TensorShape(4, 3));
        Assert.Contains("cannot receive slot 0, which is free (expected sent)", Assert.Throws<InvalidOperationException>(() => ring.Receive(0)).Message);
        Assert.Contains("cannot release slot 1, which is free", Assert.Throws<InvalidOperationException>(() => ring.Release(1)).Message);
        ring.Send(0, 4);
        Assert.Contains("cannot fill slot 0, which is sent", Assert.Throws<InvalidOperationException>(() => ring.Staging(0, 0)).Message);
        Assert.Contains("cannot send slot 0, which is sent", Assert.Throws<InvalidOperationException>(() => ring.Send(0, 4)).Message);
        ring.Receive(0);
        Assert.Contains("cannot fill slot 0, which is received", Assert.Throws<InvalidOperationException>(() => ring.Staging(0, 0)).Message);
        ring.Release(0);
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.Send(0, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring.Send(2, 1));
        Assert.Throws<ArgumentException>(() => new UploadRing(devices.Host, 2, new TensorShape(4, 3), new TensorShape(3, 1)));
    }
}
