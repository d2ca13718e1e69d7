namespace Gpu.Training;

/// <summary>
/// The metrics users look for after training, computed as scikit-learn's functions of the same
/// names do (in double precision): accuracy, per-class precision, recall and F1 with their support,
/// the confusion matrix (rows: the true class, columns: the predicted one), ROC AUC for a binary
/// score, and MSE, RMSE, MAE and R^2 for regression. A class never predicted has precision 0 and a
/// class never present recall 0 (scikit-learn's zero_division=0).
/// </summary>
public static class Metrics
{
    /// <summary>Classification metrics of predicted classes against true ones, over <paramref name="classes"/> classes.</summary>
    public static ClassificationMetrics Classification(IReadOnlyList<int> truth, IReadOnlyList<int> predicted, int classes)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(predicted);
        if (truth.Count != predicted.Count)
            throw new ArgumentException($"{truth.Count} true classes but {predicted.Count} predictions.");
        var confusion = new long[classes][];
        for (int c = 0; c < classes; c++)
            confusion[c] = new long[classes];
        long correct = 0;
        for (int i = 0; i < truth.Count; i++)
        {
            confusion[truth[i]][predicted[i]]++;
            if (truth[i] == predicted[i])
                correct++;
        }

        var perClass = new ClassMetrics[classes];
        for (int c = 0; c < classes; c++)
        {
            long tp = confusion[c][c];
            long support = confusion[c].Sum();
            long predictedAsC = confusion.Sum(row => row[c]);
            double precision = predictedAsC == 0 ? 0 : (double)tp / predictedAsC;
            double recall = support == 0 ? 0 : (double)tp / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass[c] = new ClassMetrics(c, precision, recall, f1, support);
        }

        return new ClassificationMetrics(truth.Count == 0 ? 0 : (double)correct / truth.Count, perClass,
            perClass.Average(m => m.Precision), perClass.Average(m => m.Recall), perClass.Average(m => m.F1), confusion);
    }

    /// <summary>
    /// The area under the ROC curve of <paramref name="scores"/> for the binary <paramref name="truth"/>
    /// (1 positive): the probability that a random positive scores above a random negative, ties
    /// counting one half (the Mann-Whitney statistic, as roc_auc_score). Null when one class is absent.
    /// </summary>
    public static double? RocAuc(IReadOnlyList<int> truth, IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(scores);
        int n = truth.Count;
        var order = Enumerable.Range(0, n).OrderBy(i => scores[i]).ToArray();
        double positiveRanks = 0;
        long positives = 0;
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && scores[order[end + 1]] == scores[order[start]])
                end++;
            double rank = (start + end) / 2.0 + 1; // ties share their mean rank
            for (int k = start; k <= end; k++)
            {
                if (truth[order[k]] == 1)
                {
                    positiveRanks += rank;
                    positives++;
                }
            }

            start = end + 1;
        }

        long negatives = n - positives;
        if (positives == 0 || negatives == 0)
            return null;
        return (positiveRanks - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <summary>Regression metrics of one target.</summary>
    public static RegressionMetrics Regression(IReadOnlyList<double> truth, IReadOnlyList<double> predicted)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(predicted);
        int n = truth.Count;
        if (n != predicted.Count || n == 0)
            throw new ArgumentException($"{n} true values and {predicted.Count} predictions: they must be as many, and at least one.");
        double mean = truth.Average();
        double squared = 0, absolute = 0, total = 0;
        for (int i = 0; i < n; i++)
        {
            double e = predicted[i] - truth[i];
            squared += e * e;
            absolute += Math.Abs(e);
            total += (truth[i] - mean) * (truth[i] - mean);
        }

        double mse = squared / n;
        // A constant target: R^2 is 1 for a perfect fit and 0 otherwise (scikit-learn's convention).
        double r2 = total == 0 ? (squared == 0 ? 1 : 0) : 1 - squared / total;
        return new RegressionMetrics(mse, Math.Sqrt(mse), absolute / n, r2);
    }
}

/// <param name="Accuracy">Correct predictions over all.</param>
/// <param name="Classes">Per class: precision, recall, F1, support.</param>
/// <param name="MacroPrecision">The unweighted mean over classes.</param>
/// <param name="MacroRecall">The unweighted mean over classes.</param>
/// <param name="MacroF1">The unweighted mean of the classes' F1.</param>
/// <param name="Confusion">Counts: row = true class, column = predicted class.</param>
public sealed record ClassificationMetrics(
    double Accuracy, IReadOnlyList<ClassMetrics> Classes, double MacroPrecision, double MacroRecall, double MacroF1, long[][] Confusion);

public sealed record ClassMetrics(int Class, double Precision, double Recall, double F1, long Support);

public sealed record RegressionMetrics(double Mse, double Rmse, double Mae, double R2);
