"""scikit-learn's metrics on seeded cases, for Metrics (Gpu.Training/Evaluation): metrics.json.

Run with Debian's python3-sklearn: /usr/bin/python3 make_metrics_fixtures.py
"""
import json

import numpy as np
from sklearn import metrics

rng = np.random.default_rng(7)
cases = {}

# Four classes, class 3 never predicted (precision 0 by zero_division=0), some rows right.
truth = rng.integers(0, 4, 60)
predicted = np.where(rng.random(60) < 0.6, truth, rng.integers(0, 3, 60))
predicted[predicted == 3] = 2
p, r, f, s = metrics.precision_recall_fscore_support(truth, predicted, labels=range(4), zero_division=0)
cases["classification"] = {
    "truth": truth.tolist(), "predicted": predicted.tolist(), "classes": 4,
    "accuracy": metrics.accuracy_score(truth, predicted),
    "precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": s.tolist(),
    "macro_precision": metrics.precision_score(truth, predicted, average="macro", zero_division=0),
    "macro_recall": metrics.recall_score(truth, predicted, average="macro", zero_division=0),
    "macro_f1": metrics.f1_score(truth, predicted, average="macro", zero_division=0),
    "confusion": metrics.confusion_matrix(truth, predicted, labels=range(4)).tolist(),
}

# Binary scores with ties (rounded to 0.1), for ROC AUC.
binary = rng.integers(0, 2, 80)
scores = np.round(np.clip(0.3 * binary + rng.random(80) * 0.7, 0, 1), 1)
cases["roc_auc"] = {"truth": binary.tolist(), "scores": scores.tolist(), "auc": metrics.roc_auc_score(binary, scores)}

# Regression.
y = rng.normal(3.0, 2.0, 50)
yhat = y + rng.normal(0.0, 0.7, 50)
cases["regression"] = {
    "truth": y.tolist(), "predicted": yhat.tolist(),
    "mse": metrics.mean_squared_error(y, yhat), "mae": metrics.mean_absolute_error(y, yhat), "r2": metrics.r2_score(y, yhat),
}

with open("metrics.json", "w") as out:
    json.dump(cases, out)
