using Gpu.Training;

namespace Gpu.Tests;

public sealed class DataLoaderTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("gpu-csv-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Write(string text)
    {
        string path = Path.Combine(folder, $"{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void LoadsFeaturesAndTheLastColumnAsTarget()
    {
        var data = DataLoader.Load(Write("a,b,y\n1,2,3\n-4.5,5e-1,6\n"));
        Assert.Equal(2, data.Count);
        Assert.Equal(["a", "b"], data.FeatureNames);
        Assert.Equal(["y"], data.TargetNames);
        Assert.Equal([1f, 2f, -4.5f, 0.5f], data.Features);
        Assert.Equal([3f, 6f], data.Targets);
    }

    [Fact]
    public void TargetsCanBeNamed()
    {
        var data = DataLoader.Load(Write("t1,a,t2,b\n1,2,3,4\n"), ["t2", "t1"]);
        Assert.Equal(["a", "b"], data.FeatureNames);
        Assert.Equal([3f, 1f], data.Targets);
    }

    [Fact]
    public void ErrorsNameFileLineAndColumn()
    {
        string path = Write("a,b,y\n1,2,3\n4,x5,6\n");
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(path));
        Assert.Equal($"{path}:3:2: 'x5' in column 'b' is not a number.", error.Message);
        Assert.Equal(3, error.Line);
        Assert.Equal(2, error.Column);
    }

    [Fact]
    public void WrongColumnCountsAreReportedWithTheLine()
    {
        string path = Write("a,b,y\n1,2,3\n4,5\n");
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(path));
        Assert.Contains(":3: expected 3 values (as in the header), found 2", error.Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    public void NonFiniteValuesAreRejected(string value)
    {
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(Write($"a,y\n1,2\n{value},3\n")));
        Assert.Contains(":3:1:", error.Message);
        Assert.Contains("not a finite number", error.Message);
    }

    [Fact]
    public void EmptyAndHeaderOnlyFilesAreRejected()
    {
        Assert.Contains("the file is empty", Assert.Throws<DataFormatException>(() => DataLoader.Load(Write(""))).Message);
        Assert.Contains("no data rows", Assert.Throws<DataFormatException>(() => DataLoader.Load(Write("a,y\n"))).Message);
        Assert.Throws<FileNotFoundException>(() => DataLoader.Load(Path.Combine(folder, "missing.csv")));
    }

    [Fact]
    public void UnknownTargetsAndDuplicateColumnsAreRejected()
    {
        var error = Assert.Throws<DataFormatException>(() => DataLoader.Load(Write("a,y\n1,2\n"), ["z"]));
        Assert.Contains("target column 'z' is not in the header (columns: a, y)", error.Message);
        var duplicate = Assert.Throws<DataFormatException>(() => DataLoader.Load(Write("a,a,y\n1,2,3\n")));
        Assert.Contains(":1:2: column 'a' appears twice", duplicate.Message);
    }

    [Fact]
    public void FeaturesForPredictionMustMatchTheModel()
    {
        var x = DataLoader.LoadFeatures(Write("b,a,y\n1,2,9\n3,4,9\n"), ["a", "b"], ["y"], out int rows);
        Assert.Equal(2, rows);
        Assert.Equal([2f, 1f, 4f, 3f], x);
        var error = Assert.Throws<DataFormatException>(() => DataLoader.LoadFeatures(Write("a,c\n1,2\n"), ["a", "b"], ["y"], out _));
        Assert.Contains("missing: b; unexpected: c", error.Message);
    }

    [Fact]
    public void InPlaceSplitAndStandardisationEqualTheCopyingOnes()
    {
        var data = Dataset.Synthetic(101, 3, 2, seed: 4);
        var (train, validation) = data.Split(0.2, seed: 9);
        var standardizer = Standardizer.Fit(train);
        var expectedTrain = standardizer.Transform(train);
        var expectedValidation = standardizer.Transform(validation);

        var copy = new Dataset((float[])data.Features.Clone(), (float[])data.Targets.Clone(), data.Count, data.FeatureNames, data.TargetNames);
        var (trainInPlace, validationInPlace) = copy.SplitInPlace(0.2, seed: 9);
        Assert.Same(copy.Features, trainInPlace.Features); // no copy of the training rows
        standardizer.TransformInPlace(trainInPlace);
        standardizer.TransformInPlace(validationInPlace);
        Assert.Equal(expectedTrain.Count, trainInPlace.Count);
        Assert.Equal(expectedTrain.FeatureRows.ToArray(), trainInPlace.FeatureRows.ToArray());
        Assert.Equal(expectedTrain.TargetRows.ToArray(), trainInPlace.TargetRows.ToArray());
        Assert.Equal(expectedValidation.FeatureRows.ToArray(), validationInPlace.FeatureRows.ToArray());
        Assert.Equal(expectedValidation.TargetRows.ToArray(), validationInPlace.TargetRows.ToArray());
    }

    [Fact]
    public void StandardizerCentresAndScales()
    {
        var data = new Dataset([1f, 10f, 3f, 10f, 5f, 10f], [0f, 0f, 0f], 3, ["a", "const"], ["y"]);
        var s = Standardizer.Fit(data);
        Assert.Equal([3f, 10f], s.Mean);
        Assert.Equal(1f, s.Std[1]); // a constant column maps to 0, not NaN
        var t = s.Transform(data);
        Assert.Equal(0f, t.Features[2]);
        Assert.Equal(0f, t.Features[1]);
        Numerics.AssertClose([-1.2247449f, 1.2247449f], [t.Features[0], t.Features[4]], 1e-6, 1e-6, "standardised");
    }

    [Fact]
    public void SplitsAreSeededAndDisjoint()
    {
        var data = Dataset.Synthetic(50, 3, 1, 0);
        var (train, validation) = data.Split(0.2, seed: 5);
        Assert.Equal(40, train.Count);
        Assert.Equal(10, validation.Count);
        var (train2, _) = data.Split(0.2, seed: 5);
        Assert.Equal(train.Features, train2.Features);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Split(1.5, 0));
    }
}
