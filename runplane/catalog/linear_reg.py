"""Ridge regression scored by k-fold cross-validation on synthetic data with correlated features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from runplane.catalog.registry import ModelResult, Progress, Row, clean

SAMPLES: Final = 400
FEATURES: Final = 20
INFORMATIVE: Final = 8
# Few latent factors make the features collinear, which is where the ridge penalty earns its keep.
LATENT_FACTORS: Final = 4
FOLDS: Final = 5

Array = NDArray[np.float64]


def make_data(data_seed: int) -> tuple[Array, Array, Array]:
    """Features, target and the true coefficients, all fixed by ``data_seed``."""
    rng = np.random.default_rng(data_seed)
    latent = rng.normal(size=(SAMPLES, LATENT_FACTORS))
    loadings = rng.normal(size=(LATENT_FACTORS, FEATURES))
    features = latent @ loadings + 0.5 * rng.normal(size=(SAMPLES, FEATURES))
    coefficients = np.zeros(FEATURES)
    coefficients[rng.choice(FEATURES, size=INFORMATIVE, replace=False)] = rng.normal(0.0, 3.0, INFORMATIVE)
    noise_scale = float(rng.uniform(2.0, 6.0))
    target = features @ coefficients + rng.normal(0.0, noise_scale, SAMPLES)
    return features, target, coefficients


def _pipeline(alpha: float) -> Pipeline:
    # Standardising first makes one alpha mean the same penalty for every feature.
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def run(alphas: Sequence[float], data_seed: int, report: Progress) -> ModelResult:
    """Cross-validate Ridge for each of ``alphas``; the best one (lowest mean RMSE) is refit on all data."""
    features, target, true_coefficients = make_data(data_seed)
    report(5, f"generated {SAMPLES} samples x {FEATURES} features")
    folds = list(KFold(n_splits=FOLDS, shuffle=True, random_state=data_seed % 2**32).split(features))

    rows: list[Row] = []
    mean_scores: dict[float, tuple[float, float, float]] = {}
    total = len(alphas) * FOLDS
    for alpha_index, alpha in enumerate(alphas):
        scores: list[tuple[float, float, float]] = []
        for fold, (train, test) in enumerate(folds):
            pipeline = _pipeline(alpha)
            pipeline.fit(features[train], target[train])
            predicted = pipeline.predict(features[test])
            error = predicted - target[test]
            r2 = float(r2_score(target[test], predicted))
            rmse = float(np.sqrt(np.mean(error**2)))
            mae = float(np.mean(np.abs(error)))
            scores.append((r2, rmse, mae))
            rows.append(
                {
                    "alpha": alpha,
                    "fold": fold + 1,
                    "train_rows": int(train.size),
                    "test_rows": int(test.size),
                    "r2": clean(r2),
                    "rmse": clean(rmse),
                    "mae": clean(mae),
                }
            )
            done = alpha_index * FOLDS + fold + 1
            report(5 + 85 * done / total, f"alpha={alpha:g} fold {fold + 1}/{FOLDS}")
        r2s, rmses, maes = zip(*scores, strict=True)
        mean_scores[alpha] = (
            float(np.mean(r2s)),
            float(np.mean(rmses)),
            float(np.mean(maes)),
        )

    # Ties go to the larger alpha: the simpler model for the same error.
    best_alpha = min(mean_scores, key=lambda a: (clean(mean_scores[a][1]), -a))
    best_r2, best_rmse, best_mae = mean_scores[best_alpha]
    final = _pipeline(best_alpha).fit(features, target)
    report(95, f"refit alpha={best_alpha:g} on all {SAMPLES} samples")

    # Back to the original feature scale so the fitted and true coefficients compare directly.
    scaler: StandardScaler = final.named_steps["standardscaler"]
    ridge: Ridge = final.named_steps["ridge"]
    fitted = np.asarray(ridge.coef_) / np.asarray(scaler.scale_)
    lines = ["feature,fitted,true"]
    lines += [f"x{i},{clean(fitted[i])!r},{clean(true_coefficients[i])!r}" for i in range(FEATURES)]

    summary: dict[str, int | float | str] = {
        "best_alpha": best_alpha,
        "r2": clean(best_r2),
        "rmse": clean(best_rmse),
        "mae": clean(best_mae),
        "alphas": len(alphas),
        "folds": FOLDS,
        "samples": SAMPLES,
        "features": FEATURES,
        "rows": len(rows),
    }
    return ModelResult(
        summary=summary,
        rows=rows,
        artifacts={"coefficients.csv": "\n".join(lines) + "\n"},
    )
