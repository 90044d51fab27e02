"""The pure ML layer on small synthetic data: refusals, bad input, calibration, factor sums."""

import math

import numpy as np
import pandas as pd
import pytest

from predictive.ml import (
    HGB,
    LR,
    DatasetError,
    DegenerateTargetError,
    FeatureSpec,
    NotEnoughDataError,
    decile_edges,
    decile_of,
    explain,
    fit_best,
    predict_proba,
)

SPEC = FeatureSpec(
    numeric=("visits", "seconds", "opt_out"),
    categorical=("source", "country"),
    log_numeric=frozenset({"visits", "seconds"}),
)


def synthetic(n: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """A known logistic truth, so calibration can be checked against the real probability."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(4, n).astype(float)
    seconds = rng.exponential(300, n)
    opt_out = (rng.random(n) < 0.1).astype(float)
    source = rng.choice(["ads", "referral", "organic", "event"], n)
    country = np.array(["DE", "FR", "US", None], dtype=object)[rng.integers(0, 4, n)]
    logit = (
        -1.5
        + 0.25 * visits
        + 0.002 * seconds
        - 1.0 * opt_out
        + np.select([source == "referral", source == "ads"], [1.2, -0.6], 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    visits[rng.random(n) < 0.05] = np.nan  # some missing numbers
    frame = pd.DataFrame(
        {
            "visits": visits,
            "seconds": seconds,
            "opt_out": opt_out,
            "source": source,
            "country": country,
        }
    )
    return frame, y


def test_refuses_too_little_data_with_the_counts():
    frame, y = synthetic(60)
    with pytest.raises(NotEnoughDataError) as err:
        fit_best(frame, y, SPEC, folds=3, min_samples=200)
    assert "60 leads" in err.value.message
    assert "at least 200" in err.value.message


def test_refuses_a_degenerate_target():
    frame, _ = synthetic(400)
    with pytest.raises(DegenerateTargetError, match="All 400 closed outcomes are positive"):
        fit_best(frame, np.ones(400, dtype=int), SPEC, folds=3)


def test_missing_columns_are_named():
    frame, y = synthetic(300)
    with pytest.raises(DatasetError, match="Missing columns: seconds, country"):
        fit_best(frame.drop(columns=["seconds", "country"]), y, SPEC, folds=3)


def test_wrong_types_are_named_with_an_example():
    frame, y = synthetic(300)
    frame["visits"] = frame["visits"].astype(object)
    frame.loc[7, "visits"] = "lots"
    with pytest.raises(DatasetError, match=r"visits \(e\.g\. 'lots'\)"):
        fit_best(frame, y, SPEC, folds=3)


@pytest.fixture(scope="module")
def trained():
    frame, y = synthetic(1600)
    return {
        alg: fit_best(frame, y, SPEC, folds=3, algorithms=(alg,), boost_iterations=80)
        for alg in (LR, HGB)
    }


def test_compares_candidates_and_keeps_the_better_by_cv_auc():
    frame, y = synthetic(900)
    model = fit_best(frame, y, SPEC, folds=3, boost_iterations=40)
    scores = model.metrics["candidates"]
    assert set(scores) == {LR, HGB}
    assert model.algorithm == max(scores, key=lambda k: scores[k]["roc_auc"])
    assert 0 < model.metrics["cv_brier"] < 0.25


@pytest.mark.parametrize("algorithm", [LR, HGB])
def test_probabilities_are_in_range_and_calibrated_on_held_out_data(trained, algorithm):
    held_out, y = synthetic(4000, seed=2)
    p = predict_proba(trained[algorithm], held_out)
    assert ((p >= 0) & (p <= 1)).all()
    # expected calibration error over deciles of the prediction
    bins = np.quantile(p, np.linspace(0, 1, 11))
    which = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    ece = sum(
        abs(p[which == b].mean() - y[which == b].mean()) * (which == b).mean() for b in range(10)
    )
    assert ece < 0.05, ece
    assert abs(p.mean() - y.mean()) < 0.03


@pytest.mark.parametrize("algorithm", [LR, HGB])
def test_factors_sum_to_the_models_log_odds(trained, algorithm):
    model = trained[algorithm]
    rows, _ = synthetic(6, seed=3)
    for explanation, p in zip(explain(model, rows), predict_proba(model, rows), strict=True):
        total = explanation.base + sum(explanation.contributions.values())
        assert total == pytest.approx(math.log(p / (1 - p)), abs=1e-6)
        assert explanation.probability == pytest.approx(p)
        assert set(explanation.contributions) == set(SPEC.names)


def test_factors_point_the_right_way(trained):
    """A referral source raises the odds; opting out of e-mail lowers them (the known truth)."""
    rows, _ = synthetic(2, seed=4)
    rows.loc[0, ["source", "opt_out"]] = ["referral", 0.0]
    rows.loc[1, ["source", "opt_out"]] = ["ads", 1.0]
    first, second = explain(trained[LR], rows)
    assert first.contributions["source"] > 0 > second.contributions["source"]
    assert second.contributions["opt_out"] < 0
    up, down = second.top(3)
    assert all(v > 0 for _, v in up)
    assert all(v < 0 for _, v in down)


def test_deciles():
    edges = decile_edges(np.linspace(0, 1, 1001))
    assert len(edges) == 9
    assert decile_of(0.0, edges) == 1
    assert decile_of(0.95, edges) == 10
    assert decile_of(0.55, edges) == 6
    assert decile_of(0.5, []) is None
