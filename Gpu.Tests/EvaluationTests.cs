using System.Globalization;
using System.Text.Json;
using Gpu.Training;
using static Gpu.Tests.CliRun;

namespace Gpu.Tests;

/// <summary>`evaluate`'s metrics against scikit-learn, and `predict --probabilities` against the model's own outputs.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class EvaluationTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-evaluate-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string In(string name) => Path.Combine(folder, name);

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(v => v.GetInt32())];

    private static double[] Doubles(JsonElement e) => [.. e.EnumerateArray().Select(v => v.GetDouble())];

    [Fact]
    public void ClassificationMetricsAreScikitLearns()
    {
        using var fixture = Fixture.Json("metrics.json");
        var c = fixture.RootElement.GetProperty("classification");
        var m = Metrics.Classification(Ints(c.GetProperty("truth")), Ints(c.GetProperty("predicted")), c.GetProperty("classes").GetInt32());
        Assert.Equal(c.GetProperty("accuracy").GetDouble(), m.Accuracy, 12);
        Assert.Equal(Doubles(c.GetProperty("precision")), m.Classes.Select(k => k.Precision), new Tolerance(1e-12));
        Assert.Equal(Doubles(c.GetProperty("recall")), m.Classes.Select(k => k.Recall), new Tolerance(1e-12));
        Assert.Equal(Doubles(c.GetProperty("f1")), m.Classes.Select(k => k.F1), new Tolerance(1e-12));
        Assert.Equal(Ints(c.GetProperty("support")).Select(s => (long)s), m.Classes.Select(k => k.Support));
        Assert.Equal(c.GetProperty("macro_precision").GetDouble(), m.MacroPrecision, 12);
        Assert.Equal(c.GetProperty("macro_recall").GetDouble(), m.MacroRecall, 12);
        Assert.Equal(c.GetProperty("macro_f1").GetDouble(), m.MacroF1, 12);
        var confusion = c.GetProperty("confusion").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        Assert.Equal(confusion, m.Confusion);
        Assert.Equal(0, m.Classes[3].Precision); // never predicted: zero_division=0
    }

    [Fact]
    public void RocAucAndRegressionMetricsAreScikitLearns()
    {
        using var fixture = Fixture.Json("metrics.json");
        var auc = fixture.RootElement.GetProperty("roc_auc");
        Assert.Equal(auc.GetProperty("auc").GetDouble(), Metrics.RocAuc(Ints(auc.GetProperty("truth")), Doubles(auc.GetProperty("scores")))!.Value, 12);
        Assert.Null(Metrics.RocAuc([1, 1, 1], [0.2, 0.4, 0.9]));

        var r = fixture.RootElement.GetProperty("regression");
        var m = Metrics.Regression(Doubles(r.GetProperty("truth")), Doubles(r.GetProperty("predicted")));
        Assert.Equal(r.GetProperty("mse").GetDouble(), m.Mse, 12);
        Assert.Equal(Math.Sqrt(r.GetProperty("mse").GetDouble()), m.Rmse, 12);
        Assert.Equal(r.GetProperty("mae").GetDouble(), m.Mae, 12);
        Assert.Equal(r.GetProperty("r2").GetDouble(), m.R2, 12);
    }

    [Fact]
    public void EvaluatingOnTheValidationSetGivesTheReportsAccuracyAndPredictAgrees()
    {
        string digits = Path.Combine(Repository.Root, "data", "digits.csv");
        var all = File.ReadAllLines(digits);
        File.WriteAllLines(In("train.csv"), all.Take(1401));
        File.WriteAllLines(In("val.csv"), [all[0], .. all.Skip(1401)]);
        var train = Run("train", "--data", In("train.csv"), "--val", In("val.csv"), "--target", "label", "--loss", "ce", "--model", "linear(10)",
            "--epochs", "5", "--batch-size", "64", "--save", In("m.safetensors"), "--report", In("r.json"));
        Assert.True(train.Code == 0, train.Err);
        var evaluated = Run("evaluate", "--model", In("m.safetensors"), "--data", In("val.csv"), "--out", In("metrics.json"));
        Assert.True(evaluated.Code == 0, evaluated.Err);
        using var report = JsonDocument.Parse(File.ReadAllText(In("r.json")));
        using var metrics = JsonDocument.Parse(File.ReadAllText(In("metrics.json")));
        double reported = report.RootElement.GetProperty("epochs").EnumerateArray().Last().GetProperty("val_accuracy").GetDouble();
        Assert.Equal(reported, metrics.RootElement.GetProperty("accuracy").GetDouble(), 9);
        Assert.Equal("classification", metrics.RootElement.GetProperty("kind").GetString());
        var confusion = metrics.RootElement.GetProperty("confusion").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        Assert.Equal(397, confusion.Sum(row => row.Sum()));
        Assert.Contains("confusion (rows: true class, columns: predicted)", evaluated.Out);

        // predict --probabilities: the class and ten probabilities that sum to 1, the class their argmax.
        var predicted = Run("predict", "--model", In("m.safetensors"), "--data", In("val.csv"), "--probabilities");
        Assert.True(predicted.Code == 0, predicted.Err);
        var lines = predicted.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("label," + string.Join(",", Enumerable.Range(0, 10).Select(c => $"label_p{c}")), lines[0]);
        Assert.Equal(398, lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            var p = cells.Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(1.0, p.Sum(), 5);
            Assert.Equal(int.Parse(cells[0], CultureInfo.InvariantCulture), Array.IndexOf(p, p.Max()));
        }

        // The diagonal's share is the accuracy.
        Assert.Equal(reported, confusion.Select((row, i) => row[i]).Sum() / 397.0, 9);
    }

    [Fact]
    public void RegressionAndBinaryModelsAreScoredAndProbabilitiesNeedAClassifier()
    {
        var lines = new List<string> { "a,b,y,flag" };
        var random = new Random(3);
        for (int i = 0; i < 80; i++)
        {
            double a = random.NextDouble(), b = random.NextDouble();
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{a:F4},{b:F4},{2 * a - b:F4},{(a > b ? 1 : 0)}"));
        }

        File.WriteAllLines(In("data.csv"), lines);
        File.WriteAllLines(In("flags.csv"), lines.Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 2))));
        Assert.Equal(0, Run("train", "--data", In("flags.csv"), "--target", "flag", "--loss", "bce", "--epochs", "40", "--lr", "0.05", "--save", In("bce.safetensors")).Code);
        var binary = Run("evaluate", "--model", In("bce.safetensors"), "--data", In("flags.csv"), "--out", In("bce.json"));
        Assert.True(binary.Code == 0, binary.Err);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(In("bce.json"))))
        {
            var target = metrics.RootElement.GetProperty("targets")[0];
            Assert.InRange(target.GetProperty("roc_auc").GetDouble(), 0.5, 1.0);
            Assert.Contains("ROC AUC", binary.Out);
        }

        var predicted = Run("predict", "--model", In("bce.safetensors"), "--data", In("flags.csv"), "--probabilities");
        Assert.StartsWith("flag,flag_p\n", predicted.Out.Replace("\r", ""));
        foreach (var row in predicted.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var cells = row.Split(',');
            Assert.Equal(double.Parse(cells[1], CultureInfo.InvariantCulture) >= 0.5 ? "1" : "0", cells[0]);
        }

        File.WriteAllLines(In("reg.csv"), lines.Select(l => string.Join(",", l.Split(',').Take(3))));
        Assert.Equal(0, Run("train", "--data", In("reg.csv"), "--target", "y", "--epochs", "30", "--save", In("reg.safetensors")).Code);
        var regression = Run("evaluate", "--model", In("reg.safetensors"), "--data", In("reg.csv"), "--out", In("reg.json"));
        Assert.True(regression.Code == 0, regression.Err);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(In("reg.json"))))
        {
            var y = metrics.RootElement.GetProperty("targets")[0];
            Assert.Equal(Math.Sqrt(y.GetProperty("mse").GetDouble()), y.GetProperty("rmse").GetDouble(), 12);
            Assert.Matches(@"y: MSE \S+, RMSE \S+, MAE \S+, R2 -?\d\.\d{4}", regression.Out);
        }

        AssertOneLineError(Run("predict", "--model", In("reg.safetensors"), "--data", In("reg.csv"), "--probabilities"), 2, "--probabilities applies to classifiers");
    }

    [Fact]
    public void ARegressionOnStandardisedTargetsAnswersInTheTargetsUnits()
    {
        var random = new Random(5);
        var lines = new List<string> { "rooms,area,price" };
        var prices = new List<double>();
        for (int i = 0; i < 300; i++)
        {
            int rooms = random.Next(1, 7);
            double area = 40 + 160 * random.NextDouble();
            double price = Math.Round(3000 * area + 10000 * rooms + 5000 * (random.NextDouble() - 0.5), 2);
            prices.Add(price);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{rooms},{area:F1},{price:F2}"));
        }

        File.WriteAllLines(In("prices.csv"), lines);
        var run = Run("train", "--data", In("prices.csv"), "--standardize", "--standardize-target", "--epochs", "200", "--lr", "0.01", "--save", In("p.safetensors"), "--report", In("r.json"));
        Assert.True(run.Code == 0, run.Err);
        using (var report = JsonDocument.Parse(File.ReadAllText(In("r.json"))))
            Assert.True(report.RootElement.GetProperty("result").GetProperty("final_loss").GetDouble() < 0.05, "the loss is in standard units");

        // The saved statistics are the training targets' mean and population deviation.
        var metadata = SafeTensors.Read(In("p.safetensors")).Metadata;
        double mean = prices.Average(), std = Math.Sqrt(prices.Average(p => (p - mean) * (p - mean)));
        Assert.Equal(mean, JsonSerializer.Deserialize<float[]>(metadata["target_mean"])![0], mean * 1e-6);
        Assert.Equal(std, JsonSerializer.Deserialize<float[]>(metadata["target_std"])![0], std * 1e-5);

        // Predictions in prices: the noise is +-2,500, the prices' spread about 150,000.
        var evaluated = Run("evaluate", "--model", In("p.safetensors"), "--data", In("prices.csv"), "--out", In("m.json"));
        Assert.True(evaluated.Code == 0, evaluated.Err);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(In("m.json"))))
        {
            var price = metrics.RootElement.GetProperty("targets")[0];
            Assert.InRange(price.GetProperty("rmse").GetDouble(), 0, 0.05 * std);
            Assert.InRange(price.GetProperty("r2").GetDouble(), 0.99, 1);
        }

        // The ONNX export maps back too: ONNX Runtime's predictions equal the model file's.
        Assert.Equal(0, Run("export", "--model", In("p.safetensors"), "--out", In("p.onnx")).Code);
        var native = Run("predict", "--model", In("p.safetensors"), "--data", In("prices.csv")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var onnx = Run("predict", "--model", In("p.onnx"), "--data", In("prices.csv")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(300, native.Length);
        for (int i = 0; i < native.Length; i++)
            Assert.Equal(native[i], onnx[i], Math.Abs(native[i]) * 1e-5);
        Assert.InRange(native.Average(), 0.9 * mean, 1.1 * mean);

        AssertOneLineError(Run("train", "--data", In("prices.csv"), "--loss", "ce", "--standardize-target"), 2, "--standardize-target is for regression");
    }

    private sealed class Tolerance(double epsilon) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= epsilon;

        public int GetHashCode(double obj) => 0;
    }
}
