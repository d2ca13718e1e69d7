using System.Globalization;
using System.Text.Json;
using Gpu.Bench.Baselines;
using Gpu.Runtime;
using Gpu.Training;
using MathNet.Numerics.LinearAlgebra;

namespace Gpu.Bench.Quick;

/// <summary>
/// The quick benchmark: under a minute on the CPU accelerator. Matrix products in GFLOP/s against a
/// C# triple loop and MathNet, elementwise and optimizer kernels in GB/s against C# loops and an
/// unfused Adam, the reference training step in microseconds with its launch count, and the launch
/// overhead. Every ratio is against a baseline measured in the same run.
/// </summary>
internal sealed class QuickBenchmark(Device device, TextWriter output)
{
    private readonly List<QuickResult> results = [];

    public IReadOnlyList<QuickResult> Run(bool large)
    {
        output.WriteLine($"Quick benchmark on {device}");
        LaunchOverhead();
        foreach (var (m, k, n) in MatMulSizes(large))
            MatMul(m, k, n);
        Elementwise(1 << 20);
        Optimizer(1 << 20);
        ReferenceStep();
        if (large || device.Kind != DeviceKind.Cpu)
            LargeStep();
        Convolution(3, 32, 32, 32);
        Convolution(32, 16, 16, 64);
        DigitsCnnStep();
        LstmStep(128);
        LstmStep(512);
        AttentionStep(128, 16);
        AttentionStep(256, 16);
        AttentionStep(1024, 4);
        GptStep();
        Predictions("reference MLP 10-20-1", "linear(20),relu,linear(1)", new TensorShape(10), "mse");
        Predictions("digits CNN", "conv(16,3,padding=1),relu,maxpool(2),conv(32,3,padding=1),relu,maxpool(2),flatten,linear(64),relu,dropout(0.2),linear(10)", new TensorShape(1, 8, 8), "ce");
        return results;
    }

    public void WriteJson(string path)
    {
        var document = new
        {
            date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            device = new { kind = device.Info.KindName, name = device.Info.Name },
            machine = Environment.MachineName,
            processors = Environment.ProcessorCount,
            host_threads = device.HostThreads,
            dotnet = Environment.Version.ToString(),
            ilgpu = typeof(ILGPU.Context).Assembly.GetName().Version?.ToString(),
            results,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
    }

    private static IEnumerable<(int M, int K, int N)> MatMulSizes(bool large)
    {
        yield return (100, 10, 20);   // the reference example's first layer
        yield return (128, 128, 128);
        yield return (256, 256, 256);
        yield return (512, 512, 512);
        if (large)
            yield return (1024, 1024, 1024);
    }

    private void Add(string group, string name, double seconds, string unit, double amount, string? baseline = null)
    {
        double rate = amount / seconds / 1e9;
        double? ratio = baseline is null ? null : rate / results.Single(r => r.Group == group && r.Name == baseline).Rate;
        var result = new QuickResult(group, name, seconds * 1e6, unit, rate, ratio);
        results.Add(result);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {group,-28} {name,-26} {seconds * 1e6,12:F1} us {rate,10:F3} {unit}{(ratio is { } x ? $"   x{x:F2} vs {baseline}" : "")}"));
    }

    private void LaunchOverhead()
    {
        using var one = device.Zeros(1);
        double seconds = Timer.MedianSeconds(() => Ops.Fill(one, 1f), device.Synchronize);
        string what = device.IsHost ? "op overhead (host)" : "launch overhead";
        results.Add(new QuickResult(what, "fill 1 element", seconds * 1e6, "us", seconds * 1e6, null));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what,-28} {"fill 1 element",-26} {seconds * 1e6,12:F2} us"));
    }

    private void MatMul(int m, int k, int n)
    {
        var a = Random(m * k, 1);
        var b = Random(k * n, 2);
        var c = new float[m * n];
        double flops = 2.0 * m * n * k;
        string group = $"matmul {m}x{k}x{n}";

        Add(group, "C# triple loop", Timer.MedianSeconds(() => HostReference.MatMul(a, b, c, m, n, k), () => { }), "GFLOP/s", flops);
        var ma = Matrix<float>.Build.Dense(m, k, a);
        var mb = Matrix<float>.Build.Dense(k, n, b);
        var mc = Matrix<float>.Build.Dense(m, n);
        Add(group, "MathNet Matrix<float>", Timer.MedianSeconds(() => ma.Multiply(mb, mc), () => { }), "GFLOP/s", flops, "C# triple loop");

        using var ta = device.FromArray(a, m, k);
        using var tb = device.FromArray(b, k, n);
        using var tc = device.Zeros(m, n);
        Add(group, Algorithm(), Timer.MedianSeconds(() => Ops.MatMul(ta, tb, tc), device.Synchronize), "GFLOP/s", flops, "C# triple loop");
    }

    private string Algorithm() =>
        device.MatMulAlgorithm != MatMulAlgorithm.Auto ? $"ours, {device.MatMulAlgorithm}"
        : device.Kind == DeviceKind.Cuda ? "ours, auto (cuBLAS if loaded)"
        : device.CpuProfile switch
        {
            CpuProfile.Host => "ours, host SIMD",
            CpuProfile.Fast => "ours, RowBlocked kernel",
            _ => "ours, Tiled kernel",
        };

    private string Ours => device.IsHost ? "ours, host SIMD" : "ours, ILGPU kernel";

    private void Elementwise(int n)
    {
        var x = Random(n, 3);
        var y = Random(n, 4);
        var z = new float[n];
        using var tx = device.FromArray(x, n);
        using var ty = device.FromArray(y, n);
        using var tz = device.Zeros(n);
        using var loss = device.Zeros();
        string relu = $"relu {n}";
        Add(relu, "C# loop", Timer.MedianSeconds(() => HostReference.Relu(x, z), () => { }), "GB/s", 8.0 * n);
        Add(relu, Ours, Timer.MedianSeconds(() => Ops.Relu(tx, tz), device.Synchronize), "GB/s", 8.0 * n, "C# loop");
        string mse = $"mse {n}";
        Add(mse, "C# loop", Timer.MedianSeconds(() => HostReference.Mse(x, y), () => { }), "GB/s", 8.0 * n);
        Add(mse, $"{Ours} (on device)", Timer.MedianSeconds(() => Ops.MseLoss(tx, ty, loss), device.Synchronize), "GB/s", 8.0 * n, "C# loop");
    }

    private void Optimizer(int n)
    {
        var p = Random(n, 5);
        var g = Random(n, 6);
        var m = new float[n];
        var v = new float[n];
        using var tp = device.FromArray(p, n);
        using var tg = device.FromArray(g, n);
        using var tm = device.Zeros(n);
        using var tv = device.Zeros(n);
        using var unfused = new UnfusedAdam(device, n);
        var settings = new AdamSettings(1e-3, 0.9, 0.999, 1e-8, 0, false, false);
        string group = $"adam {n} params (28 B each)";
        int step = 1;
        Add(group, "C# loop", Timer.MedianSeconds(() => HostReference.Adam(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, step++), () => { }), "GB/s", 28.0 * n);
        Add(group, "ILGPU kernels unfused (4)", Timer.MedianSeconds(() => unfused.Step(tp, tg, tm, tv, step++), device.Synchronize), "GB/s", 28.0 * n, "C# loop");
        Add(group, $"{Ours} fused", Timer.MedianSeconds(() => Ops.AdamStep(tp, tg, tm, tv, null, step++, settings), device.Synchronize), "GB/s", 28.0 * n, "C# loop");
    }

    private void ReferenceStep() => TrainStep(10, 20, 100, budgetSeconds: 0.5, minBatches: 5);

    private void LargeStep() => TrainStep(1024, 1024, 1024, budgetSeconds: 2, minBatches: 3);

    // One full step (ZeroGrad, forward, MSE, backward, Adam) of an MLP inputs-hidden-1, with the
    // number of launches (or host ops) it queues.
    private void TrainStep(int inputs, int hidden, int batch, double budgetSeconds, int minBatches)
    {
        var train = Dataset.Synthetic(batch, inputs, 1, 0);
        using var model = Sequential.Mlp(inputs, [hidden], 1).To(device, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        using var x = device.FromArray(train.Features, batch, inputs);
        using var y = device.FromArray(train.Targets, batch, 1);
        void Step()
        {
            optimizer.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            model.Backward(loss.Backward());
            optimizer.Step();
        }

        Step();
        long before = device.LaunchCount;
        Step();
        long launches = device.LaunchCount - before;
        double seconds = Timer.MedianSeconds(Step, device.Synchronize, budgetSeconds, minBatches);
        double gflops = model.Flops(training: true) * (double)batch / seconds / 1e9;
        string group = $"train step {inputs}-{hidden}-1 b{batch}";
        string name = $"{launches} {(device.IsHost ? "ops" : "launches")}, no sync";
        results.Add(new QuickResult(group, name, seconds * 1e6, "GFLOP/s", gflops, null));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {group,-28} {name,-26} {seconds * 1e6,12:F1} us {gflops,10:F3} GFLOP/s  ({seconds * 1e6 / launches:F1} us per op)"));
    }

    // Conv2d(in, out, 3, padding 1) forward and backward (input gradient included) on a batch of
    // 64 images, as PyTorch's conv2d then y.backward(g) with x.requires_grad.
    private void Convolution(int channels, int height, int width, int outChannels)
    {
        const int batch = 64;
        using var model = new Sequential(new TensorShape(channels, height, width), new Conv2d(channels, outChannels, 3, padding: 1)) { InputRequiresGrad = true }.To(device, 0);
        using var x = device.FromArray(Random(batch * channels * height * width, 7), batch, channels, height, width);
        using var g = device.FromArray(Random(batch * outChannels * height * width, 8), batch, outChannels, height, width);
        void Step()
        {
            model.Parameters().ZeroGrad();
            model.Forward(x);
            model.Backward(g);
        }

        double seconds = Timer.MedianSeconds(Step, device.Synchronize, 1, 3);
        double flops = model.Flops(training: true) * (double)batch;
        Add($"conv2d {channels}x{height}x{width}->{outChannels} k3 b{batch} fwd+bwd", Ours, seconds, "GFLOP/s", flops);
    }

    // One training step of a small CNN on 8x8 digits (the README's model), batch 32.
    private void DigitsCnnStep()
    {
        const int batch = 32;
        using var model = Architecture.Parse(
            "conv(16,3,padding=1),relu,maxpool(2),conv(32,3,padding=1),relu,maxpool(2),flatten,linear(64),relu,dropout(0.2),linear(10)",
            new TensorShape(1, 8, 8)).To(device, 0);
        using var loss = new CrossEntropyLoss();
        using var optimizer = new Adam(model.Parameters());
        using var x = device.FromArray(Random(batch * 64, 9), batch, 1, 8, 8);
        using var y = device.FromArray(Enumerable.Range(0, batch).Select(i => (float)(i % 10)).ToArray(), batch, 1);
        void Step()
        {
            optimizer.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            model.Backward(loss.Backward());
            optimizer.Step();
        }

        double seconds = Timer.MedianSeconds(Step, device.Synchronize, 1, 3);
        Add($"digits cnn step b{batch}", $"{Ours} ({1 / seconds:F0} steps/s)", seconds, "GFLOP/s", model.Flops(training: true) * (double)batch);
    }

    // One training step of an LSTM layer (hidden H, H input features) over 64 steps, batch 32: MSE
    // against a random sequence, Adam. PyTorch's nn.LSTM runs the same in pytorch_bench.py.
    private void LstmStep(int hidden)
    {
        const int batch = 32, steps = 64;
        using var model = Architecture.Parse($"lstm({hidden})", new TensorShape(steps, hidden)).To(device, 0);
        using var loss = new MSELoss();
        using var optimizer = new Adam(model.Parameters());
        using var x = device.FromArray(Random(batch * steps * hidden, 11), batch, steps, hidden);
        using var y = device.FromArray(Random(batch * steps * hidden, 12), batch, steps, hidden);
        void Step()
        {
            optimizer.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            model.Backward(loss.Backward());
            optimizer.Step();
        }

        double seconds = Timer.MedianSeconds(Step, device.Synchronize, 1, 3);
        Add($"lstm step H{hidden} T{steps} b{batch}", $"{Ours} ({batch * steps / seconds:F0} tokens/s)", seconds, "GFLOP/s", model.Flops(training: true) * (double)batch);
    }

    // The attention layer (D 128, 4 causal heads, with its two projections) forward and backward,
    // as pytorch_bench.py times nanoGPT's CausalSelfAttention (its non-flash path).
    private void AttentionStep(int steps, int batch)
    {
        const int dim = 128;
        using var model = new Sequential(new TensorShape(steps, dim), new Attention(dim, 4)) { InputRequiresGrad = true }.To(device, 0);
        using var x = device.FromArray(Random(batch * steps * dim, 13), batch, steps, dim);
        using var g = device.FromArray(Enumerable.Repeat(1f, batch * steps * dim).ToArray(), batch, steps, dim);
        void Step()
        {
            model.Parameters().ZeroGrad();
            model.Forward(x);
            model.Backward(g);
        }

        double seconds = Timer.MedianSeconds(Step, device.Synchronize, 1, 3);
        Add($"attention fwd+bwd T{steps} b{batch}", $"{Ours} ({batch * steps / seconds:F0} tokens/s)", seconds, "GFLOP/s", model.Flops(training: true) * (double)batch);
    }

    // One training step of a 4-block GPT (dim 128, 4 heads, context 128, the README's) at batch 16: AdamW.
    private void GptStep()
    {
        const int batch = 16, context = 128;
        string block = "residual(layernorm,attention(4)),residual(layernorm,linear(512),gelu(tanh),linear(128))";
        using var model = Architecture.Parse($"embedding(128),posembedding,{block},{block},{block},{block},layernorm,linear(256)", new TensorShape(context), 256).To(device, 0);
        using var loss = new CrossEntropyLoss();
        using var optimizer = new AdamW(model.Parameters());
        var random = new Random(14);
        using var x = device.FromArray([.. Enumerable.Range(0, batch * context).Select(_ => (float)random.Next(256))], batch, context);
        using var y = device.FromArray([.. Enumerable.Range(0, batch * context).Select(_ => (float)random.Next(256))], batch, context);
        void Step()
        {
            optimizer.ZeroGrad();
            loss.Forward(model.Forward(x), y);
            model.Backward(loss.Backward());
            optimizer.Step();
        }

        double seconds = Timer.MedianSeconds(Step, device.Synchronize, 1, 3);
        Add($"gpt step 4x128 T{context} b{batch}", $"{Ours} ({batch * context / seconds:F0} tokens/s)", seconds, "GFLOP/s", model.Flops(training: true) * (double)batch);
    }

    // Predictions per second for 10,000 rows: the model's own Predict on this device (what
    // `gpu predict` runs) against the exported ONNX model in ONNX Runtime (CPU), batches of 4,096.
    private void Predictions(string name, string architecture, TensorShape shape, string loss)
    {
        const int rows = 10_000, batch = 4096;
        using var model = Architecture.Parse(architecture, shape).To(device, 0);
        var features = Random(rows * shape.Length, 10);
        var info = new ModelInfo(loss, [.. Enumerable.Range(0, shape.Length).Select(i => $"f{i}")], ["y"]);
        string path = Path.Combine(Path.GetTempPath(), $"gpu-bench-{Environment.ProcessId}.onnx");
        OnnxExport.Save(path, model, info);
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path);
        File.Delete(path);
        int[] dims = [.. shape.ToArray()];
        void RunOnnx()
        {
            for (int start = 0; start < rows; start += batch)
            {
                int count = Math.Min(batch, rows - start);
                var input = new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(features.AsMemory(start * shape.Length, count * shape.Length), [count, .. dims]);
                using var outputs = session.Run([Microsoft.ML.OnnxRuntime.NamedOnnxValue.CreateFromTensor("input", input)], ["output"]);
            }
        }

        string group = $"predict 10k rows, {name}";
        Add(group, "ONNX Runtime 1.31 (CPU)", Timer.MedianSeconds(RunOnnx, () => { }, 1, 3), "Mrows/s", rows * 1e3);
        Add(group, $"{Ours} (gpu predict)", Timer.MedianSeconds(() => model.Predict(features, batch), device.Synchronize, 1, 3), "Mrows/s", rows * 1e3, "ONNX Runtime 1.31 (CPU)");
    }

    private static float[] Random(int n, int seed)
    {
        var random = new Random(seed);
        var data = new float[n];
        for (int i = 0; i < n; i++)
            data[i] = (float)(random.NextDouble() * 2 - 1);
        return data;
    }
}

/// <summary>One line of the quick benchmark.</summary>
/// <param name="Group">What is measured (op and size).</param>
/// <param name="Name">Which implementation.</param>
/// <param name="Microseconds">Median time per call.</param>
/// <param name="Unit">GFLOP/s or GB/s (or us for launch overhead).</param>
/// <param name="Rate">Throughput in that unit.</param>
/// <param name="Ratio">Throughput relative to the group's baseline, when there is one.</param>
internal sealed record QuickResult(string Group, string Name, double Microseconds, string Unit, double Rate, double? Ratio);
