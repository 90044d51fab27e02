"""The machine learning, pure: no database. Candidates, model selection, calibration, factors.

scikit-learn, numpy and pandas are imported inside the functions, so importing this module (and
so the web process) does not pay for them; only training, scoring and explaining do.

How a probability is made and explained (docs/predictive.md has the long form):

* two candidates, a regularised logistic regression (one-hot categories, standardised numbers)
  and a ``HistGradientBoostingClassifier`` (native categories, missing values), are compared by
  stratified k-fold cross-validated ROC AUC; the better is kept;
* the winner is calibrated with ``CalibratedClassifierCV(method="sigmoid", ensemble=False)``:
  the estimator is refitted on all rows and ONE Platt sigmoid ``p = 1 / (1 + exp(a·f(x) + b))``
  is fitted on its out-of-fold decision values ``f``. So the calibrated log-odds are
  ``-(a·f(x) + b)``, an affine map of ``f`` — factors computed on ``f`` map onto them exactly;
* factors are contributions to the calibrated log-odds relative to a reference lead:
  ``base + Σ factors = logit(probability)`` exactly (to float rounding).
  - logistic regression: ``coefficient × (transformed value − its training mean)`` summed over
    each input's columns (for a standardised number: coefficient × z-score);
  - boosted trees: Shapley values of ``f`` estimated by sampling feature orderings, each ordering
    switching features one by one from the reference lead's value to this lead's and crediting
    each feature with the change in ``f`` (scikit-learn's ``decision_function`` only). Every
    ordering sums exactly to ``f(x) − f(reference)``, so their average does too.
"""

from __future__ import annotations

import pickle  # noqa: S403  (artefacts are written by us only and checksummed)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadflow.exceptions import DomainError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LR = "logistic_regression"
HGB = "hist_gradient_boosting"
MISSING = "(missing)"


class PredictiveError(DomainError):
    code = "predictive_error"
    status = 400


class NotEnoughDataError(PredictiveError):
    code = "not_enough_data"
    status = 409


class DegenerateTargetError(PredictiveError):
    code = "degenerate_target"
    status = 409


class DatasetError(PredictiveError):
    code = "invalid_dataset"


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    # non-negative, heavy-tailed numbers (counts, seconds): log1p before scaling (LR only)
    log_numeric: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


@dataclass
class TrainedModel:
    """What a version's artefact holds: the calibrated pipeline and what explaining needs."""

    calibrated: Any  # CalibratedClassifierCV
    algorithm: str
    spec: FeatureSpec
    reference: dict[str, Any]  # the reference lead: numeric medians, categorical modes
    transformed_mean: Any = None  # LR only: mean of each transformed column on training rows
    metrics: dict[str, Any] = field(default_factory=dict)

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes) -> TrainedModel:
        model = pickle.loads(data)  # noqa: S301  (our own artefact; sha256 checked by the caller)
        if not isinstance(model, TrainedModel):
            raise PredictiveError(_("The stored artefact is not a LeadFlow predictive model."))
        return model


def prepare_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Check and coerce the input: every column present, numbers numeric. Names what is wrong."""
    import numpy as np
    import pandas as pd

    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise DatasetError(
            _("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)}, field=missing[0]
        )
    out = pd.DataFrame(index=frame.index)
    bad: list[str] = []
    for name in spec.numeric:
        col = frame[name]
        if col.dtype == bool:
            col = col.astype(float)
        numbers = pd.to_numeric(col, errors="coerce")
        if (numbers.isna() & col.notna()).any():
            bad.append(name)
        out[name] = numbers.astype(float)
    if bad:
        examples = []
        for name in bad:
            col = frame[name]
            sample = col[pd.to_numeric(col, errors="coerce").isna() & col.notna()].iloc[0]
            examples.append(
                # Translators: a column and one of its values, e.g. visits (e.g. 'lots')
                _("%(column)s (e.g. %(value)s)") % {"column": name, "value": repr(sample)}
            )
        raise DatasetError(
            _("Columns that must be numbers have other values: %(columns)s.")
            % {"columns": ", ".join(examples)},
            field=bad[0],
        )
    for name in spec.categorical:
        col = frame[name]
        out[name] = col.astype(object).where(col.notna(), MISSING).astype(str)
        out[name] = out[name].replace("", MISSING)
    return out.replace([np.inf, -np.inf], np.nan)


def check_training_data(y: np.ndarray, *, min_samples: int, min_per_class: int) -> None:
    import numpy as np

    n = len(y)
    positives = int(np.sum(y == 1))
    negatives = n - positives
    counts = {
        "n": n,
        "positives": positives,
        "negatives": negatives,
        "min_samples": min_samples,
        "min_per_class": min_per_class,
    }
    if negatives == 0:
        raise DegenerateTargetError(
            ngettext(
                "All %(n)s closed outcomes are positive: a model needs both converted and "
                "not-converted leads to learn from.",
                "All %(n)s closed outcomes are positive: a model needs both converted and "
                "not-converted leads to learn from.",
                n,
            )
            % counts
        )
    if positives == 0:
        raise DegenerateTargetError(
            ngettext(
                "All %(n)s closed outcomes are negative: a model needs both converted and "
                "not-converted leads to learn from.",
                "All %(n)s closed outcomes are negative: a model needs both converted and "
                "not-converted leads to learn from.",
                n,
            )
            % counts
        )
    if n < min_samples or min(positives, negatives) < min_per_class:
        raise NotEnoughDataError(
            ngettext(
                "Not enough closed outcomes to train: %(n)s leads (%(positives)s converted, "
                "%(negatives)s not); at least %(min_samples)s leads with at least "
                "%(min_per_class)s of each class are needed. Predictions stay as they are until "
                "then.",
                "Not enough closed outcomes to train: %(n)s leads (%(positives)s converted, "
                "%(negatives)s not); at least %(min_samples)s leads with at least "
                "%(min_per_class)s of each class are needed. Predictions stay as they are until "
                "then.",
                n,
            )
            % counts
        )


def log1p_clipped(x: Any) -> Any:
    """log(1 + x) for non-negative quantities (negative values, e.g. clock skew, count as 0)."""
    import numpy as np

    return np.log1p(np.clip(x, 0, None))


def _candidates(spec: FeatureSpec, seed: int, boost_iterations: int = 300) -> dict[str, Any]:
    import numpy as np  # noqa: F401
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    # One transformer per input column, named by its position, so every output column of the
    # logistic regression maps back to exactly one input (the factors group on it).
    per_column: list[tuple[str, Any, list[str]]] = []
    for i, name in enumerate(spec.numeric):
        steps: list[Any] = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if name in spec.log_numeric:
            steps.append(FunctionTransformer(log1p_clipped, feature_names_out="one-to-one"))
        steps.append(StandardScaler())
        per_column.append((f"c{i}", make_pipeline(*steps), [name]))
    for j, name in enumerate(spec.categorical, start=len(spec.numeric)):
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False
        )
        per_column.append((f"c{j}", encoder, [name]))
    logistic = Pipeline(
        [
            ("pre", ColumnTransformer(per_column)),
            ("clf", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        max_categories=250,  # HistGradientBoosting bins categories: at most 255
        min_frequency=5,
    )
    n_num = len(spec.numeric)
    boosted = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", "passthrough", list(spec.numeric)),
                        ("cat", ordinal, list(spec.categorical)),
                    ]
                ),
            ),
            (
                "clf",
                HistGradientBoostingClassifier(
                    learning_rate=0.05,
                    max_iter=boost_iterations,
                    max_leaf_nodes=15,
                    min_samples_leaf=20,
                    l2_regularization=1.0,
                    categorical_features=list(range(n_num, n_num + len(spec.categorical))),
                    random_state=seed,
                ),
            ),
        ]
    )
    return {LR: logistic, HGB: boosted}


def fit_best(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    *,
    folds: int = 5,
    seed: int = 0,
    min_samples: int = 200,
    min_per_class: int = 20,
    algorithms: tuple[str, ...] = (LR, HGB),
    boost_iterations: int = 300,
) -> TrainedModel:
    """Compare the candidates by CV ROC AUC, keep the better, calibrate it. Pure and seeded."""
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X = prepare_frame(frame, spec)
    y = np.asarray(y).astype(int)
    check_training_data(y, min_samples=min_samples, min_per_class=max(min_per_class, folds))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    candidates = _candidates(spec, seed, boost_iterations)
    splits = list(cv.split(X, y))
    scores: dict[str, dict[str, float]] = {}
    oof: dict[str, np.ndarray] = {}
    for name in algorithms:
        decision = cross_val_predict(candidates[name], X, y, cv=splits, method="decision_function")
        per_fold = [roc_auc_score(y[test], decision[test]) for _, test in splits]
        scores[name] = {"roc_auc": float(np.mean(per_fold)), "roc_auc_std": float(np.std(per_fold))}
        oof[name] = decision
    best = max(scores, key=lambda n: scores[n]["roc_auc"])
    calibrated = CalibratedClassifierCV(
        candidates[best], method="sigmoid", cv=splits, ensemble=False
    ).fit(X, y)
    # Brier of the out-of-fold decisions passed through the fitted sigmoid (2 parameters)
    a, b = _sigmoid(calibrated)
    oof_proba = 1.0 / (1.0 + np.exp(a * oof[best] + b))
    metrics: dict[str, Any] = {
        "candidates": scores,
        "chosen": best,
        "cv_roc_auc": scores[best]["roc_auc"],
        "cv_brier": float(brier_score_loss(y, oof_proba)),
        "folds": folds,
        "n_samples": len(y),
        "n_positive": int(y.sum()),
        "base_rate": float(y.mean()),
    }
    reference: dict[str, Any] = {n: float(np.nanmedian(X[n])) for n in spec.numeric}
    reference |= {n: str(X[n].mode().iloc[0]) for n in spec.categorical}
    model = TrainedModel(
        calibrated=calibrated, algorithm=best, spec=spec, reference=reference, metrics=metrics
    )
    if best == LR:
        pre = _estimator(model).named_steps["pre"]
        model.transformed_mean = np.asarray(pre.transform(X)).mean(axis=0)
    return model


def _estimator(model: TrainedModel) -> Any:
    return model.calibrated.calibrated_classifiers_[0].estimator


def _sigmoid(calibrated: Any) -> tuple[float, float]:
    calibrator = calibrated.calibrated_classifiers_[0].calibrators[0]
    return float(calibrator.a_), float(calibrator.b_)


def predict_proba(model: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probability of the positive class for each row, in [0, 1]."""
    X = prepare_frame(frame, model.spec)
    return model.calibrated.predict_proba(X)[:, 1]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Explanation:
    """``base + sum(contributions.values()) == logit(probability)`` (calibrated log-odds)."""

    probability: float
    base: float  # calibrated log-odds of the reference lead
    contributions: dict[str, float]  # input column -> log-odds it adds vs the reference lead

    def top(self, n: int = 5) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        ordered = sorted(self.contributions.items(), key=lambda kv: kv[1])
        up = [kv for kv in reversed(ordered) if kv[1] > 0][:n]
        down = [kv for kv in ordered if kv[1] < 0][:n]
        return up, down


def explain(
    model: TrainedModel, frame: pd.DataFrame, *, orderings: int = 16, seed: int = 0
) -> list[Explanation]:
    """Factors for each row of ``frame`` (see the module docstring for what they mean)."""
    import numpy as np

    X = prepare_frame(frame, model.spec)
    a, b = _sigmoid(model.calibrated)
    estimator = _estimator(model)
    names = list(model.spec.names)
    if model.algorithm == LR:
        pre, clf = estimator.named_steps["pre"], estimator.named_steps["clf"]
        coef = clf.coef_[0]
        centred = np.asarray(pre.transform(X)) - model.transformed_mean
        f_ref = float(clf.intercept_[0] + coef @ model.transformed_mean)
        raw = np.zeros((len(X), len(names)))
        for i in range(len(names)):
            cols = pre.output_indices_[f"c{i}"]
            raw[:, i] = centred[:, cols] @ coef[cols]
        f_refs = np.full(len(X), f_ref)
    else:
        raw, f_refs = _sampled_shapley(estimator, X, model.reference, names, orderings, seed)
    out = []
    proba = model.calibrated.predict_proba(X)[:, 1]
    for row in range(len(X)):
        contributions = {name: float(-a * raw[row, i]) for i, name in enumerate(names)}
        base = float(-(a * f_refs[row] + b))
        out.append(Explanation(float(proba[row]), base, contributions))
    return out


def _sampled_shapley(
    estimator: Any,
    X: pd.DataFrame,
    reference: dict[str, Any],
    names: list[str],
    orderings: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d = len(names)
    perms = np.array([rng.permutation(d) for _ in range(orderings)])
    ranks = np.argsort(perms, axis=1)  # ranks[k, c] = position of column c in ordering k
    steps = np.arange(d + 1)
    # mask[k, i, c]: after i switches in ordering k, column c holds the lead's own value
    mask = (ranks[:, None, :] < steps[None, :, None]).reshape(-1, d)
    raw = np.zeros((len(X), d))
    f_refs = np.zeros(len(X))
    for row in range(len(X)):
        lead = X.iloc[row]
        grid = pd.DataFrame(
            {
                name: np.where(mask[:, c], lead[name], reference[name])
                for c, name in enumerate(names)
            }
        )
        grid = grid.astype(X.dtypes.to_dict())
        f = estimator.decision_function(grid).reshape(orderings, d + 1)
        delta = np.diff(f, axis=1)  # delta[k, i]: change when perms[k, i] switched
        contrib = np.zeros(d)
        np.add.at(contrib, perms.ravel(), delta.ravel())
        raw[row] = contrib / orderings
        f_refs[row] = f[0, 0]
    return raw, f_refs


def decile_edges(probabilities: np.ndarray) -> list[float]:
    """The 9 cut points splitting the scored population into deciles (1 = lowest)."""
    import numpy as np

    if len(probabilities) == 0:
        return []
    return [float(q) for q in np.quantile(probabilities, np.linspace(0.1, 0.9, 9))]


def decile_of(probability: float, edges: list[float]) -> int | None:
    """1..10 (10 = the top tenth of the scored population); None before a scoring pass."""
    from bisect import bisect_right

    if not edges:
        return None
    return bisect_right(edges, probability) + 1
