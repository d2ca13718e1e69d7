using System.Globalization;
using Gpu.Runtime;
using Gpu.Training;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Gpu.Tests.Docs;

/// <summary>
/// The C# examples of docs/training.md, compiled and run here. Each example sits between
/// "example:NAME" and "end-example" markers; <see cref="DocumentationTests"/> checks that the
/// markdown shows exactly this code, so the documentation cannot drift from code that compiles.
/// </summary>
public static class DocumentationExamples
{
    public static List<string> ReferenceExample()
    {
        var printed = new List<string>();
        void Print(string line) => printed.Add(line);
        // example:reference
        using var device = Device.Create();                      // auto: CUDA, then OpenCL, then the CPU
        var train = Dataset.Synthetic(100, 10, 1, seed: 1);      // X ~ randn(100, 10), y ~ randn(100, 1)
        var validation = Dataset.Synthetic(20, 10, 1, seed: 2);

        using var model = new Sequential(new Linear(10, 20), new ReLU(), new Linear(20, 1)).To(device, seed: 0);
        using var criterion = new MSELoss();
        using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 1e-3));

        var trainer = new Trainer(model, criterion, optimizer, new TrainerOptions(Epochs: 100));
        trainer.EpochCompleted += e =>
        {
            if (e.Epoch % 10 == 0)
                Print($"Epoch {e.Epoch}, Loss: {e.Loss}, Val Loss: {e.ValLoss}");
        };
        var history = trainer.Fit(train, validation);

        ModelFile.Save("model.safetensors", model, new ModelInfo("mse", train.FeatureNames, train.TargetNames));
        // end-example
        printed.Add($"final {history.Last!.Loss}");
        return printed;
    }

    public static (float First, float Last) ManualLoop()
    {
        using var device = Device.Create("cpu");
        // example:manual
        using var model = Sequential.Mlp(10, [20], 1).To(device, seed: 0);
        using var criterion = new MSELoss();
        using var optimizer = new AdamW(model.Parameters(), new AdamWOptions(Lr: 1e-2));
        using var x = device.FromArray(Dataset.Synthetic(64, 10, 1, seed: 3).Features, 64, 10);
        using var y = device.FromArray(Dataset.Synthetic(64, 10, 1, seed: 3).Targets, 64, 1);

        float first = criterion.Forward(model.Forward(x), y).Item();
        for (int step = 0; step < 50; step++)
        {
            optimizer.ZeroGrad();
            var loss = criterion.Forward(model.Forward(x), y);   // stays on the device
            model.Backward(criterion.Backward());
            optimizer.Step();
            if (step % 10 == 0)
                Console.WriteLine($"step {step}: {loss.Item()}");  // reading it synchronises
        }
        // end-example
        return (first, criterion.Forward(model.Forward(x), y).Item());
    }

    /// <summary>The CNN of the guide, trained on the committed digits; run with the repository root as the working folder.</summary>
    public static double? DigitsCnn()
    {
        // example:cnn
        using var device = Device.Create();
        var digits = DataLoader.Load("data/digits.csv", ["label"]);   // 64 pixel columns, then the label
        var (train, validation) = digits.Split(0.2, seed: 0);

        using var model = new Sequential(new TensorShape(1, 8, 8),      // a row is one 8x8 grey image
            new Conv2d(1, 16, 3, padding: 1), new ReLU(), new MaxPool2d(2),
            new Conv2d(16, 32, 3, padding: 1), new ReLU(), new MaxPool2d(2),
            new Flatten(), new Linear(32 * 2 * 2, 64), new ReLU(), new Dropout(0.2), new Linear(64, 10)).To(device, seed: 0);
        using var criterion = new CrossEntropyLoss();
        using var optimizer = new Adam(model.Parameters(), new AdamOptions(Lr: 2e-3));

        var trainer = new Trainer(model, criterion, optimizer, new TrainerOptions(Epochs: 20, BatchSize: 32, Seed: 0));
        var history = trainer.Fit(train, validation);             // validation runs in eval mode: no dropout
        Console.WriteLine($"held-out accuracy: {history.Last!.ValAccuracy:P1}");
        // end-example
        return history.Last!.ValAccuracy;
    }

    /// <summary>The guide's serving loop over an exported model: raw feature rows in, "class,probability" lines out.</summary>
    public static void ServeOnnx(TextReader input, TextWriter output)
    {
        // example:serve
        using var session = new InferenceSession("model.onnx");                   // from `gpu export`
        int[] shape = [.. session.InputMetadata["input"].Dimensions.Skip(1)];    // e.g. [1, 8, 8]
        string? line;
        while ((line = input.ReadLine()) is not null)                              // one row of raw features
        {
            float[] row = [.. line.Split(',').Select(v => float.Parse(v, CultureInfo.InvariantCulture))];
            var tensor = new DenseTensor<float>(row, [1, .. shape]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", tensor)]);
            float[] p = [.. results.First(r => r.Name == "probabilities").AsEnumerable<float>()];
            int best = Array.IndexOf(p, p.Max());
            output.WriteLine($"{best},{p[best].ToString("F4", CultureInfo.InvariantCulture)}");
        }
        // end-example
    }
}
