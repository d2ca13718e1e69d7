using System.Text.RegularExpressions;

namespace Gpu.Tests.Docs;

[Collection(EnvironmentCollection.Name)]
public sealed partial class DocumentationTests
{
    [Theory]
    [InlineData("reference")]
    [InlineData("manual")]
    [InlineData("cnn")]
    [InlineData("serve")]
    [InlineData("lm")]
    public void TrainingGuideShowsTheCompiledExamples(string name)
    {
        string source = File.ReadAllText(SourcePath());
        var match = Regex.Match(source, $@"// example:{name}\r?\n(?<code>.*?)\r?\n\s*// end-example", RegexOptions.Singleline);
        Assert.True(match.Success, $"example '{name}' not found in the test source");
        string expected = Normalise(match.Groups["code"].Value);
        string guide = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "training.md"));
        var blocks = CodeBlock().Matches(guide).Select(m => Normalise(m.Groups["code"].Value)).ToList();
        Assert.True(blocks.Any(b => b.Contains(expected, StringComparison.Ordinal)),
            $"docs/training.md does not contain the '{name}' example exactly as compiled in DocumentationExamples.cs:\n{expected}");
    }

    [Fact]
    public void ReferenceExampleRunsAndPrintsEveryTenthEpoch()
    {
        File.Delete("model.safetensors"); // a file left by an earlier run must not pass for this one's
        var printed = DocumentationExamples.ReferenceExample();
        Assert.Equal(11, printed.Count);
        Assert.StartsWith("Epoch 0, Loss: ", printed[0]);
        Assert.StartsWith("Epoch 90, Loss: ", printed[9]);
        var saved = Gpu.Training.SafeTensors.Read("model.safetensors");
        Assert.Equal([20, 10], saved.Tensors["0.weight"].Shape);
        Assert.True(File.GetLastWriteTimeUtc("model.safetensors") > DateTime.UtcNow.AddMinutes(-5));
    }

    [Fact]
    public void ManualLoopLearns()
    {
        var (first, last) = DocumentationExamples.ManualLoop();
        Assert.True(last < 0.5 * first, $"the loss went from {first} to {last}");
    }

    [Fact]
    public void TheServingExampleAnswersEveryRowLikePredict()
    {
        // A digits classifier, exported; the example reads the pixels of the first 30 images.
        using var device = Gpu.Runtime.Device.CreateCpu();
        var digits = Gpu.Training.DataLoader.Load(Path.Combine(RepositoryRoot(), "data", "digits.csv"), ["label"]);
        using var model = Gpu.Training.Architecture.Parse("conv(4,3,padding=1),relu,maxpool(2),flatten,linear(10)", new Gpu.Runtime.TensorShape(1, 8, 8)).To(device, 1);
        using var loss = new Gpu.Training.CrossEntropyLoss();
        using var optimizer = new Gpu.Training.Adam(model.Parameters(), new Gpu.Training.AdamOptions(Lr: 1e-2));
        new Gpu.Training.Trainer(model, loss, optimizer, new Gpu.Training.TrainerOptions(Epochs: 3, BatchSize: 64)).Fit(digits);
        File.Delete("model.onnx");
        Gpu.Training.OnnxExport.Save("model.onnx", model, new Gpu.Training.ModelInfo("ce", digits.FeatureNames, digits.TargetNames));

        var rows = Enumerable.Range(0, 30).Select(r => string.Join(",", digits.Features.AsSpan(r * 64, 64).ToArray().Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ToList();
        var served = new StringWriter();
        DocumentationExamples.ServeOnnx(new StringReader(string.Join("\n", rows)), served);
        var classes = served.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => int.Parse(l.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var logits = model.Predict(digits.Features.AsSpan(0, 30 * 64));
        var expected = Enumerable.Range(0, 30).Select(r => { var row = logits.AsSpan(r * 10, 10).ToArray(); return Array.IndexOf(row, row.Max()); });
        Assert.Equal(expected, classes);
    }

    [Fact]
    public void TheLanguageModelExampleLearnsAndGenerates()
    {
        // The guide's example on the 3,000-byte test text: 41 training windows, 5 held out.
        var (valLoss, printed) = DocumentationExamples.LanguageModel(Fixture.PathOf("sequence_text.txt"));
        Assert.True(valLoss < Math.Log(256), $"validation loss {valLoss} is no better than a uniform guess ({Math.Log(256)})");
        Assert.Equal(2, printed.Count);
        Assert.Matches(@"^validation: \d+\.\d\d bits per byte$", printed[0]);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(printed[1]) >= 200, "the continuation should hold 200 bytes (an invalid one becomes U+FFFD, three bytes)");
    }

    [Fact]
    public void TheDigitsCnnReachesNinetyEightPercentHeldOut()
    {
        string folder = Environment.CurrentDirectory;
        Environment.CurrentDirectory = RepositoryRoot(); // the example reads data/digits.csv
        try
        {
            var accuracy = DocumentationExamples.DigitsCnn();
            Assert.True(accuracy >= 0.98, $"held-out accuracy {accuracy}");
        }
        finally
        {
            Environment.CurrentDirectory = folder;
        }
    }

    private static string Normalise(string code)
    {
        var lines = code.Replace("\r", "").Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        var trimmed = lines.Select(l => l.Length >= indent ? l[indent..] : l.Trim())
            .Select(l => l.Replace("Print(", "Console.WriteLine(").TrimEnd());
        return string.Join("\n", trimmed).Trim();
    }

    // Found from the repository root, not [CallerFilePath]: CI builds (CI=true) set
    // ContinuousIntegrationBuild, which maps source paths to "/_/" in the compiled assembly.
    private static string SourcePath() => Path.Combine(RepositoryRoot(), "Gpu.Tests", "Docs", "DocumentationExamples.cs");

    internal static string RepositoryRoot() => Repository.Root;

    [GeneratedRegex(@"```csharp\r?\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();
}
