using System.Text.Json;
using Gpu.Runtime;
using Gpu.Training;

namespace Gpu.Tests;

/// <summary>
/// Every layer's forward and backward against PyTorch 1.13 (Fixtures/make_layer_fixtures.py): for
/// a random input x and output gradient g, the output, the input gradient and the parameter
/// gradients of module(x) then y.backward(g), on every device profile. Awkward sizes are
/// included: odd kernels, strides and padding, 1 and 3 channels, batch 1, overlapping pools.
/// </summary>
[Collection(DeviceCollection.Name)]
public sealed class LayerTests(DeviceFixture devices)
{
    private static readonly Lazy<SafeTensorsFile> Tensors = new(() => SafeTensors.Read(Fixture.PathOf("layers.safetensors")));
    private static readonly Lazy<SafeTensorsFile> Tensors64 = new(() => SafeTensors.Read(Fixture.PathOf("layers64.safetensors")));

    public static TheoryData<string, string> Cases() => CasesOf("layer_cases.json");

    public static TheoryData<string, string> Cases64() => CasesOf("layer64_cases.json");

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchPyTorch(string profile, string name) => Check(devices.Get(profile), "layer_cases.json", Tensors.Value, name);

    /// <summary>
    /// Layers whose references PyTorch computes in float64 (Fixtures/make_layer64_fixtures.py): LayerNorm
    /// (2 to 300 features, 2-D and 3-D inputs, another eps), GELU's tanh approximation, and the
    /// sequence layers: Linear over the last axis, Embedding (repeated ids), the position table (full
    /// and shorter sequences), the last step, LSTM and GRU (1 and 2 layers, 40 steps).
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Cases64))]
    public void LayersMatchPyTorchInDoublePrecision(string profile, string name) => Check(devices.Get(profile), "layer64_cases.json", Tensors64.Value, name);

    // The GPU-like profile runs a group of 256 as 256 OS threads, about 22 ms a launch on 2 cores: a
    // 40-step LSTM is 17 s there. Its long-sequence numerics are checked on every other profile, and
    // the same kernels' GPU-like group geometry by the shorter LSTM cases.
    private static readonly HashSet<string> LongOnGpuLike = ["lstm_long"];

    private static TheoryData<string, string> CasesOf(string file)
    {
        using var doc = Fixture.Json(file);
        var data = new TheoryData<string, string>();
        foreach (var profile in (string[])["host", "fast", "gpulike", .. Profiles.Gpus])
        {
            foreach (var c in doc.RootElement.GetProperty("cases").EnumerateObject())
            {
                if (!(profile == "gpulike" && LongOnGpuLike.Contains(c.Name)))
                    data.Add(profile, c.Name);
            }
        }

        return data;
    }

    // One layer built from its record, PyTorch's parameters loaded; forward and backward compared.
    private static void Check(Device device, string file, SafeTensorsFile tensors, string name)
    {
        using var doc = Fixture.Json(file);
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        var spec = LayerSpec.FromJson($"[{c.GetProperty("spec").GetRawText()}]").Single();
        var inputShape = new TensorShape(c.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        var parameters = c.GetProperty("parameters").EnumerateArray().Select(e => e.GetString()!).ToList();
        var t = tensors.Tensors;

        using var model = new Sequential(inputShape, spec.Create()) { InputRequiresGrad = true }.To(device);
        if (parameters.Count > 0)
            model.LoadStateDict(parameters.ToDictionary(p => $"0.{p}", p => (t[$"{name}.{p}"].Shape, t[$"{name}.{p}"].Data)));
        var x = t[$"{name}.x"];
        using var input = device.FromArray(x.Data, x.Shape);
        model.Parameters().ZeroGrad();
        var y = model.Forward(input);
        Assert.Equal(t[$"{name}.y"].Shape, y.Shape.ToArray());
        Numerics.AssertClose(t[$"{name}.y"].Data, y.ToArray(), 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} output");

        var g = t[$"{name}.g"];
        using var gradOutput = device.FromArray(g.Data, g.Shape);
        var dx = model.Backward(gradOutput);
        if (t.TryGetValue($"{name}.dx", out var expectedDx))
        {
            Assert.NotNull(dx);
            Assert.Equal(x.Shape, dx.Shape.ToArray());
            Numerics.AssertClose(expectedDx.Data, dx.ToArray(), 1e-6 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} input gradient");
        }
        else
        {
            Assert.Null(dx); // token ids have no gradient
        }

        foreach (var p in parameters)
            Numerics.AssertClose(t[$"{name}.d{p}"].Data, model.Parameters().Find($"0.{p}")!.Grad.ToArray(), 1e-5 * Numerics.Scale(device), 1e-5 * Numerics.Scale(device), $"{name} d{p}");
    }

    [SkippableTheory]
    [InlineData(20, 8, 12, 16, 1, 1)]
    [InlineData(9, 3, 15, 5, 2, 0)]
    [InlineData(19, 16, 12, 24, 1, 1)]
    [InlineData(6, 32, 11, 40, 1, 2)]
    [InlineData(5, 16, 10, 70, 1, 1)]
    [InlineData(4, 16, 6, 8, 1, 3)]
    [InlineData(7, 16, 13, 8, 2, 1)]
    public void LargeConvolutionsAgreeBetweenTheHostPathAndTheKernels(int batch, int channels, int size, int outChannels, int stride, int padding)
    {
        // Big enough for the host path to split images over cores and chunk the weight gradient, and
        // for its products to take each of its micro-kernels (out channels along the lanes: 8 and 24
        // on 256-bit vectors, 40 on 6 x 32 blocks, 70 on 6 x 64 and a partial panel). With 16 or more
        // input channels, stride 1 and padding up to 2, dx is the convolution of dy; else col2im.
        // The result must equal the kernels' (one large product) up to rounding.
        var x = Numerics.Random(batch * channels * size * size, 11);
        var w = Numerics.Random(outChannels * channels * 9, 12, 0.3f);
        var b = Numerics.Random(outChannels, 13);
        int outSize = (size + 2 * padding - 3) / stride + 1;
        var g = Numerics.Random(batch * outChannels * outSize * outSize, 14);
        var (y1, dw1, db1, dx1) = Convolve(devices.Host, x, w, b, g, batch, channels, size, outChannels, outSize, stride, padding);
        var (y2, dw2, db2, dx2) = Convolve(devices.Fast, x, w, b, g, batch, channels, size, outChannels, outSize, stride, padding);
        Numerics.AssertClose(y2, y1, 1e-5, 1e-5, "output");
        Numerics.AssertClose(dw2, dw1, 1e-4, 1e-5, "weight gradient");
        Numerics.AssertClose(db2, db1, 1e-4, 1e-5, "bias gradient");
        Numerics.AssertClose(dx2, dx1, 1e-5, 1e-5, "input gradient");
    }

    [SkippableTheory]
    [InlineData(5, 1, 8, 16, 3, 1, 1)] // the digits CNN's first layer: 64 positions, two passes of 8 channels
    [InlineData(3, 3, 32, 32, 3, 1, 1)] // 3 channels: 27 patch values, 1,024 positions
    [InlineData(2, 3, 9, 10, 3, 2, 1)] // stride 2: 25 positions (a partial block of 16), 10 channels (a partial pass)
    [InlineData(2, 1, 5, 3, 5, 1, 2)] // kernel 5: 25 patch values
    [InlineData(4, 3, 6, 9, 3, 1, 0)] // 16 positions in rows of 4: one whole block, gathered
    public void ForwardOnLanesGivesTheProductsBits(int batch, int channels, int size, int outChannels, int kernel, int stride, int padding)
    {
        var shape = Gpu.Kernels.ConvShape.Create(batch, channels, size, size, kernel, stride, padding);
        Skip.IfNot(Gpu.Runtime.Backends.Host.HostConvolution.ForwardOnLanes(shape), "the forward on lanes needs AVX-512");
        var x = Numerics.Random(batch * channels * size * size, 21);
        var w = Numerics.Random(outChannels * channels * kernel * kernel, 22, 0.3f);
        var b = Numerics.Random(outChannels, 23);
        using var input = devices.Host.FromArray(x, batch, channels, size, size);
        using var weight = devices.Host.FromArray(w, outChannels, channels, kernel, kernel);
        using var bias = devices.Host.FromArray(b, outChannels);
        using var output = devices.Host.Zeros(batch, outChannels, shape.OutHeight, shape.OutWidth);
        foreach (bool withBias in new[] { true, false })
        {
            Ops.Conv2d(input, weight, withBias ? bias : null, output, stride, padding);
            var onLanes = output.ToArray();
            try
            {
                Gpu.Runtime.Backends.Host.HostConvolution.ForwardOnLanesEnabled = false;
                Ops.Conv2d(input, weight, withBias ? bias : null, output, stride, padding);
            }
            finally
            {
                Gpu.Runtime.Backends.Host.HostConvolution.ForwardOnLanesEnabled = true;
            }

            Assert.Equal(output.ToArray(), onLanes);
        }
    }

    [Theory]
    [InlineData("host", 3, 1, 8, 16)] // the forward with positions on the lanes (AVX-512): ReLU before the store
    [InlineData("host", 2, 16, 6, 32)] // the product path: ReLU after each image's transpose
    [InlineData("fast", 3, 1, 8, 16)] // the kernels: a ReLU launch after the convolution's
    public void ConvolutionWithReluIsConvolutionThenRelu(string profile, int batch, int channels, int size, int outChannels)
    {
        // A Sequential runs a Conv2d followed by a ReLU as one op; it must give the two ops' bits,
        // NaN included (torch.relu keeps it), forward and, through the model, backward.
        var device = devices.Get(profile);
        var x = Numerics.Random(batch * channels * size * size, 31);
        x[5] = float.NaN;
        var w = Numerics.Random(outChannels * channels * 9, 32, 0.3f);
        var b = Numerics.Random(outChannels, 33);
        var g = Numerics.Random(batch * outChannels * size * size, 34);
        using var input = device.FromArray(x, batch, channels, size, size);
        using var weight = device.FromArray(w, outChannels, channels, 3, 3);
        using var bias = device.FromArray(b, outChannels);
        using var convolved = device.Zeros(batch, outChannels, size, size);
        using var separate = device.Zeros(batch, outChannels, size, size);
        using var fused = device.Zeros(batch, outChannels, size, size);
        Ops.Conv2d(input, weight, bias, convolved, 1, 1);
        Ops.Relu(convolved, separate);
        Ops.Conv2d(input, weight, bias, fused, 1, 1, relu: true);
        Assert.Equal(separate.ToArray(), fused.ToArray());

        using var model = new Sequential(new TensorShape(channels, size, size), new Conv2d(channels, outChannels, 3, padding: 1), new ReLU()) { InputRequiresGrad = true }.To(device);
        model.LoadStateDict(new Dictionary<string, (int[], float[])> { ["0.weight"] = ([outChannels, channels, 3, 3], w), ["0.bias"] = ([outChannels], b) });
        Assert.Equal(separate.ToArray(), model.Forward(input).ToArray());
        using var gradOutput = device.FromArray(g, batch, outChannels, size, size);
        using var gradBeforeRelu = device.Zeros(batch, outChannels, size, size);
        using var gradWeight = device.Zeros(outChannels, channels, 3, 3);
        using var gradBias = device.Zeros(outChannels);
        using var gradInput = device.Zeros(batch, channels, size, size);
        Ops.ReluBackward(separate, gradOutput, gradBeforeRelu);
        Ops.Conv2dBackward(input, weight, gradBeforeRelu, gradWeight, gradBias, gradInput, 1, 1);
        model.Parameters().ZeroGrad();
        Assert.Equal(gradInput.ToArray(), model.Backward(gradOutput)!.ToArray());
        Assert.Equal(gradWeight.ToArray(), model.Parameters().Find("0.weight")!.Grad.ToArray());
    }

    [Theory]
    [InlineData("host", 4000, 10, 20)] // the narrow kernel
    [InlineData("host", 100, 64, 48)] // the 6-row kernels
    [InlineData("fast", 100, 10, 20)] // the kernels: a ReLU launch after the product's
    public void LinearWithReluIsLinearThenRelu(string profile, int batch, int inFeatures, int outFeatures)
    {
        // A Sequential runs a Linear followed by a ReLU as one op; forward and backward must give
        // the two ops' bits, NaN included.
        var device = devices.Get(profile);
        var x = Numerics.Random(batch * inFeatures, 41);
        x[7] = float.NaN;
        var w = Numerics.Random(outFeatures * inFeatures, 42, 0.3f);
        var b = Numerics.Random(outFeatures, 43);
        var g = Numerics.Random(batch * outFeatures, 44);
        using var input = device.FromArray(x, batch, inFeatures);
        using var weight = device.FromArray(w, outFeatures, inFeatures);
        using var bias = device.FromArray(b, outFeatures);
        using var product = device.Zeros(batch, outFeatures);
        using var separate = device.Zeros(batch, outFeatures);
        using var fused = device.Zeros(batch, outFeatures);
        Ops.Linear(input, weight, bias, product);
        Ops.Relu(product, separate);
        Ops.Linear(input, weight, bias, fused, relu: true);
        Assert.Equal(separate.ToArray(), fused.ToArray());

        using var model = new Sequential(new Linear(inFeatures, outFeatures), new ReLU()) { InputRequiresGrad = true }.To(device);
        model.LoadStateDict(new Dictionary<string, (int[], float[])> { ["0.weight"] = ([outFeatures, inFeatures], w), ["0.bias"] = ([outFeatures], b) });
        Assert.Equal(separate.ToArray(), model.Forward(input).ToArray());
        using var gradOutput = device.FromArray(g, batch, outFeatures);
        using var gradBeforeRelu = device.Zeros(batch, outFeatures);
        using var gradWeight = device.Zeros(outFeatures, inFeatures);
        using var gradInput = device.Zeros(batch, inFeatures);
        Ops.ReluBackward(separate, gradOutput, gradBeforeRelu);
        Ops.MatMul(gradBeforeRelu, input, gradWeight, transposeA: true, accumulate: true);
        Ops.MatMul(gradBeforeRelu, weight, gradInput);
        model.Parameters().ZeroGrad();
        Assert.Equal(gradInput.ToArray(), model.Backward(gradOutput)!.ToArray());
        Assert.Equal(gradWeight.ToArray(), model.Parameters().Find("0.weight")!.Grad.ToArray());
    }

    private static (float[] Y, float[] DW, float[] DB, float[] DX) Convolve(
        Device device, float[] x, float[] w, float[] b, float[] g, int batch, int channels, int size, int outChannels, int outSize, int stride, int padding)
    {
        using var input = device.FromArray(x, batch, channels, size, size);
        using var weight = device.FromArray(w, outChannels, channels, 3, 3);
        using var bias = device.FromArray(b, outChannels);
        using var output = device.Zeros(batch, outChannels, outSize, outSize);
        using var gradOutput = device.FromArray(g, batch, outChannels, outSize, outSize);
        using var gradWeight = device.Zeros(outChannels, channels, 3, 3);
        using var gradBias = device.Zeros(outChannels);
        using var gradInput = device.Zeros(batch, channels, size, size);
        Ops.Conv2d(input, weight, bias, output, stride, padding);
        Ops.Conv2dBackward(input, weight, gradOutput, gradWeight, gradBias, gradInput, stride, padding);
        return (output.ToArray(), gradWeight.ToArray(), gradBias.ToArray(), gradInput.ToArray());
    }

    // Pooling shapes (profile, batch, channels, height, width, kernel, stride). At 2x2: 64 x 16 x
    // 16 x 16 is large enough for the host path to split the planes over cores; 37 x 37 pools 18
    // windows a row, two runs of eight in vectors and two one at a time; 8 x 8 maps pool two rows
    // of four windows a vector (1,024 x 4 of them split over cores), and 6 x 9 leaves an odd row
    // to go one window at a time. 3x3 windows at stride 2 take the general loop. The kernels (fast)
    // run the first two.
    public static TheoryData<string, int, int, int, int, int, int> PoolingShapes => new()
    {
        { "host", 64, 16, 16, 16, 2, 2 }, { "host", 3, 5, 9, 9, 3, 2 }, { "host", 2, 3, 37, 37, 2, 2 },
        { "host", 1024, 4, 8, 8, 2, 2 }, { "host", 3, 5, 6, 9, 2, 2 }, { "host", 2, 3, 24, 25, 2, 2 },
        { "host", 3, 5, 4, 4, 2, 2 }, { "host", 3, 3, 6, 4, 2, 2 }, { "host", 2048, 8, 4, 4, 2, 2 },
        { "fast", 64, 16, 16, 16, 2, 2 }, { "fast", 3, 5, 9, 9, 3, 2 },
    };

    [SkippableTheory]
    [MemberData(nameof(PoolingShapes))]
    public void MaxPoolTakesTheFirstMaximumOfEachWindowAndTheLastNaNAsPyTorchDoes(string profile, int batch, int channels, int height, int width, int kernel, int stride)
    {
        // After a ReLU most windows tie (zeros): the first maximum in window order must win, as in
        // PyTorch's strict comparison, and a NaN wins over any number, a later NaN over an earlier
        // one (PyTorch's CPU kernel: `val > maxval || isnan(val)`; max_pool2d of [NaN, 1, NaN, 2]
        // gives index 2 in torch 1.13). Values from {0, 1, 2} and some NaNs make ties everywhere.
        var device = devices.Get(profile);
        var random = new Random(5);
        var x = new float[batch * channels * height * width];
        for (int i = 0; i < x.Length; i++)
            x[i] = random.Next(12) == 0 ? float.NaN : random.Next(3);
        int outHeight = (height - kernel) / stride + 1, outWidth = (width - kernel) / stride + 1;
        using var input = device.FromArray(x, batch, channels, height, width);
        using var output = device.Zeros(batch, channels, outHeight, outWidth);
        using var indices = device.AllocateIndices(output.Length);
        Ops.MaxPool2d(input, output, indices, kernel, stride);
        var y = output.ToArray();
        device.Synchronize();
        var chosen = indices.HostSpan.ToArray(); // CPU devices only, like the profiles above
        for (int plane = 0, o = 0; plane < batch * channels; plane++)
        {
            for (int oh = 0; oh < outHeight; oh++)
            {
                for (int ow = 0; ow < outWidth; ow++, o++)
                {
                    int best = -1;
                    for (int ki = 0; ki < kernel; ki++)
                    {
                        for (int kj = 0; kj < kernel; kj++)
                        {
                            int at = (plane * height + oh * stride + ki) * width + ow * stride + kj;
                            if (best < 0 || float.IsNaN(x[at]) || x[at] > x[best])
                                best = at;
                        }
                    }

                    Assert.True(chosen[o] == best, $"output {o}: index {chosen[o]}, expected {best}");
                    Assert.Equal(x[best], y[o]);
                }
            }
        }

        // Backward: each output gradient lands on its window's chosen input, in output order.
        var g = Numerics.Random(y.Length, 6);
        using var gradOutput = device.FromArray(g, batch, channels, outHeight, outWidth);
        using var gradInput = device.FromArray(Numerics.Random(x.Length, 9), batch, channels, height, width); // overwritten, not added to
        Ops.MaxPool2dBackward(gradOutput, indices, gradInput, kernel, stride);
        var expected = new float[x.Length];
        for (int o = 0; o < g.Length; o++)
            expected[chosen[o]] += g[o];
        Numerics.AssertClose(expected, gradInput.ToArray(), 1e-6, 1e-6, "max pool input gradient");
    }

    [SkippableTheory]
    [MemberData(nameof(PoolingShapes))]
    public void AvgPoolMatchesAPlainLoopForwardAndBackward(string profile, int batch, int channels, int height, int width, int kernel, int stride)
    {
        var device = devices.Get(profile);
        int outHeight = (height - kernel) / stride + 1, outWidth = (width - kernel) / stride + 1, planes = batch * channels;
        var x = Numerics.Random(planes * height * width, 7);
        var g = Numerics.Random(planes * outHeight * outWidth, 8);
        using var input = device.FromArray(x, batch, channels, height, width);
        using var output = device.Zeros(batch, channels, outHeight, outWidth);
        using var gradOutput = device.FromArray(g, batch, channels, outHeight, outWidth);
        using var gradInput = device.FromArray(Numerics.Random(x.Length, 9), batch, channels, height, width); // overwritten, not added to
        Ops.AvgPool2d(input, output, kernel, stride);
        Ops.AvgPool2dBackward(gradOutput, gradInput, kernel, stride);
        var y = new float[g.Length];
        var dx = new float[x.Length];
        for (int plane = 0, o = 0; plane < planes; plane++)
        {
            for (int oh = 0; oh < outHeight; oh++)
            {
                for (int ow = 0; ow < outWidth; ow++, o++)
                {
                    double sum = 0;
                    for (int ki = 0; ki < kernel; ki++)
                    {
                        for (int kj = 0; kj < kernel; kj++)
                        {
                            int at = (plane * height + oh * stride + ki) * width + ow * stride + kj;
                            sum += x[at];
                            dx[at] += g[o] / (kernel * kernel);
                        }
                    }

                    y[o] = (float)(sum / (kernel * kernel));
                }
            }
        }

        Numerics.AssertClose(y, output.ToArray(), 1e-6, 1e-6, "avg pool output");
        Numerics.AssertClose(dx, gradInput.ToArray(), 1e-6, 1e-6, "avg pool input gradient");
    }

    [Fact]
    public void ConvolutionOpsNameTheOpAndBothShapesOnBadInput()
    {
        var device = devices.Host;
        using var x = device.Zeros(2, 3, 8, 8);
        using var w = device.Zeros(4, 2, 3, 3);
        using var y = device.Zeros(2, 4, 6, 6);
        var channels = Assert.Throws<ShapeMismatchException>(() => Ops.Conv2d(x, w, null, y));
        Assert.Equal("Conv2d: input (2, 3, 8, 8) and weight (4, 2, 3, 3): 3 != 2 input channels.", channels.Message);
        using var w3 = device.Zeros(4, 3, 3, 3);
        using var wrong = device.Zeros(2, 4, 8, 8);
        var output = Assert.Throws<ShapeMismatchException>(() => Ops.Conv2d(x, w3, null, wrong));
        Assert.Contains("give (2, 4, 6, 6) but output is (2, 4, 8, 8)", output.Message);
        using var flat = device.Zeros(2 * 3 * 8 * 8 + 2 * 4 * 6 * 6);
        var aliased = Assert.Throws<ArgumentException>(() => Ops.Conv2d(flat.Slice(0, 2, 3, 8, 8), w3, null, flat.Slice(100, 2, 4, 6, 6)));
        Assert.Contains("overlaps input", aliased.Message);
        using var pooled = device.Zeros(2, 3, 3, 3);
        using var indices = device.AllocateIndices(2);
        var few = Assert.Throws<ShapeMismatchException>(() => Ops.MaxPool2d(x, pooled, indices, 2, 2));
        Assert.Contains("pools to (2, 3, 4, 4)", few.Message);
    }

    [Fact]
    public void EveryLayerTypeHasAFixture()
    {
        var covered = new[] { "layer_cases.json", "layer64_cases.json" }
            .SelectMany(file =>
            {
                using var doc = Fixture.Json(file);
                return doc.RootElement.GetProperty("cases").EnumerateObject().Select(c => c.Value.GetProperty("spec").GetProperty("type").GetString()).ToList();
            })
            .ToHashSet();
        var missing = LayerSpec.KnownTypes.Where(type => type != "Linear" && !covered.Contains(type)).ToList();
        Assert.True(missing.Count == 0, $"no PyTorch fixture for {string.Join(", ", missing)} (Linear is covered by the training fixtures)");
    }

    [Fact]
    public void DropoutIsTheIdentityInEvaluationModeAndDrawsItsRateInTraining()
    {
        var device = devices.Host;
        using var model = new Sequential(new TensorShape(1000), new Dropout(0.25)) { InputRequiresGrad = true }.To(device, seed: 7);
        using var x = device.FromArray(Enumerable.Repeat(1f, 4000).ToArray(), 4, 1000);
        var kept = model.Forward(x).ToArray();
        double dropped = kept.Count(v => v == 0f) / 4000.0;
        Assert.InRange(dropped, 0.22, 0.28);
        Assert.All(kept.Where(v => v != 0f), v => Assert.Equal(1f / 0.75f, v));
        var second = model.Forward(x).ToArray();
        Assert.NotEqual(kept, second); // a new mask every step

        model.Eval();
        Assert.Same(x, model.Forward(x));
        Assert.Same(x, model.Backward(x));
    }

    [SkippableTheory]
    [InlineData("host")]
    [InlineData("fast")]
    public void DropoutMasksAreTheSameOnEveryDeviceAndForEverySplitOfABatch(string profile)
    {
        // Rows 2..5 of one batch drawn on their own (a second process's share) equal the same rows drawn together.
        var device = devices.Get(profile);
        using var whole = new Sequential(new TensorShape(3, 4), new Dropout(0.5)).To(device, seed: 3);
        using var part = new Sequential(new TensorShape(3, 4), new Dropout(0.5)).To(devices.Host, seed: 3);
        using var x = device.FromArray(Enumerable.Range(1, 6 * 12).Select(i => (float)i).ToArray(), 6, 3, 4);
        using var xPart = devices.Host.FromArray(Enumerable.Range(1 + 2 * 12, 4 * 12).Select(i => (float)i).ToArray(), 4, 3, 4);
        whole.SetRandomPosition(5, 0);
        part.SetRandomPosition(5, 2);
        var all = whole.Forward(x).ToArray();
        Assert.Equal(all[(2 * 12)..], part.Forward(xPart).ToArray());
    }

    [Fact]
    public void ShapesAreCheckedWhenTheModelIsBuiltWithAMessageNamingTheLayerAndBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(1, 8, 8),
            new Conv2d(1, 4, 3, padding: 1), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(100, 10)));
        Assert.Contains("layer 4", e.Message);
        Assert.Contains("Linear(in_features=100", e.Message);
        Assert.Contains("(N, 64)", e.Message);
        Assert.Contains("(N, 100)", e.Message);

        var channels = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(3, 8, 8), new Conv2d(1, 4, 3)));
        Assert.Contains("(N, 3, 8, 8)", channels.Message);
        var tooSmall = Assert.Throws<ArgumentException>(() => new Sequential(new TensorShape(1, 2, 2), new MaxPool2d(3)));
        Assert.Contains("smaller than the 3x3 window", tooSmall.Message);
        var unknown = Assert.Throws<ArgumentException>(() => new Sequential(new Conv2d(1, 4, 3), new Flatten()));
        Assert.Contains("cannot be inferred", unknown.Message);
    }

    [Fact]
    public void SpecsRoundTripThroughJsonAndRebuildTheSameArchitecture()
    {
        var model = new Sequential(new TensorShape(3, 16, 16),
            new Conv2d(3, 8, 3, stride: 2, padding: 1), new GELU(), new AvgPool2d(2), new Conv2d(8, 4, 1, bias: false), new LeakyReLU(0.2f),
            new MaxPool2d(2, 1), new Flatten(), new Dropout(0.1), new Linear(36, 5), new Tanh(), new Linear(5, 2), new Sigmoid());
        string json = LayerSpec.ToJson(model.Specs);
        var rebuilt = Sequential.FromSpecs(LayerSpec.FromJson(json), model.InputShape);
        Assert.Equal(model.Specs, rebuilt.Specs);
        Assert.Equal(model.ToString(), rebuilt.ToString());
        Assert.Equal(model.ParameterLayout.Select(p => (p.Name, p.Shape.ToString())), rebuilt.ParameterLayout.Select(p => (p.Name, p.Shape.ToString())));
        Assert.StartsWith("[{\"type\":\"Conv2d\",\"in_channels\":3", json);
        var unknown = Assert.Throws<NotSupportedException>(() => LayerSpec.FromJson("[{\"type\":\"Conv3d\"}]"));
        Assert.Contains("unknown type 'Conv3d'", unknown.Message);
    }

    [Fact]
    public void NamesParametersAsPyTorchsSequentialDoes()
    {
        var model = new Sequential(new TensorShape(1, 8, 8), new Conv2d(1, 2, 3), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(18, 3));
        Assert.Equal(["0.weight", "0.bias", "4.weight", "4.bias"], model.ParameterLayout.Select(p => p.Name));
        Assert.Equal(new TensorShape(2, 1, 3, 3), model.ParameterLayout[0].Shape);
    }
}
