"""manage.py evaluate_predictive: the X Education mapping, its refusals and a small full run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from predictive import xeducation

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "leads_x_education.csv"


def write_csv(path: Path, n: int = 300, seed: int = 0) -> Path:
    """A small file with X Education's columns and a learnable outcome."""
    rng = np.random.default_rng(seed)
    seconds = rng.exponential(500, n).round()
    origin = rng.choice(["API", "Landing Page Submission", "Lead Add Form"], n)
    logit = -1.2 + seconds / 600 + np.where(origin == "Lead Add Form", 2.0, 0.0)
    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    data = {
        "Prospect ID": [f"id-{i}" for i in range(n)],
        "Converted": converted,
        "TotalVisits": rng.poisson(3, n),
        "Total Time Spent on Website": seconds,
        "Page Views Per Visit": rng.uniform(0, 5, n).round(2),
        "Lead Origin": origin,
        "Lead Source": rng.choice(["Google", "Direct Traffic", "Olark Chat"], n),
        "Last Activity": rng.choice(["Email Opened", "Page Visited on Website"], n),
        "Country": "India",
        "City": rng.choice(["Mumbai", "Select"], n),
        "Specialization": rng.choice(["Finance Management", "Select"], n),
        "What is your current occupation": rng.choice(["Unemployed", "Working Professional"], n),
        "How did you hear about X Education": "Select",
        "What matters most to you in choosing a course": "Better Career Prospects",
        "Tags": np.where(converted == 1, "Closed by Horizzon", "Ringing"),  # the leak
        "Lead Quality": "Might be",
    }
    for column in xeducation.FLAGS:
        data[column] = rng.choice(["Yes", "No"], n)
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def test_leaky_columns_never_reach_the_features(tmp_path):
    frame, y, spec = xeducation.load(write_csv(tmp_path / "x.csv"))
    assert set(frame.columns) == set(spec.names)
    for column in ("Tags", "Lead Quality", "tags", "lead_quality"):
        assert column not in frame.columns
    assert frame["industry"].isna().sum() > 0  # "Select" read as missing
    assert len(y) == 300


@pytest.mark.skipif(not REAL.exists(), reason="../shared/data is not beside the repository")
def test_the_real_file_maps_without_the_sales_side_columns():
    frame, y, spec = xeducation.load(REAL)
    assert frame.shape[0] == 9240
    assert y.sum() == 3561
    mapped = set(xeducation.NUMERIC) | set(xeducation.FLAGS) | set(xeducation.CATEGORICAL)
    assert not mapped & set(xeducation.LEAKY)
    assert not mapped & set(xeducation.STAFF_ASSIGNED)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "x.csv"
    pd.read_csv(write_csv(path)).drop(columns=["TotalVisits", "Lead Source"]).to_csv(path)
    with pytest.raises(CommandError, match="missing columns: TotalVisits, Lead Source"):
        call_command("evaluate_predictive", "--dataset", "x-education", str(path))


def test_wrong_types_are_named_with_the_row(tmp_path):
    path = write_csv(tmp_path / "x.csv")
    frame = pd.read_csv(path)
    frame["Total Time Spent on Website"] = frame["Total Time Spent on Website"].astype(object)
    frame.loc[4, "Total Time Spent on Website"] = "ten minutes"
    frame.loc[9, "Do Not Call"] = "maybe"
    frame.to_csv(path, index=False)
    with pytest.raises(CommandError) as err:
        call_command("evaluate_predictive", "--dataset", "x-education", str(path))
    assert "Total Time Spent on Website (row 6: 'ten minutes')" in str(err.value)
    assert "Do Not Call (row 11: 'maybe', expected Yes/No)" in str(err.value)


def test_an_all_one_class_target_is_refused(tmp_path):
    path = write_csv(tmp_path / "x.csv")
    frame = pd.read_csv(path)
    frame["Converted"] = 0
    frame.to_csv(path, index=False)
    with pytest.raises(CommandError, match="closed outcomes are negative"):
        call_command("evaluate_predictive", "--dataset", "x-education", str(path))


def test_a_small_run_reports_every_figure_and_saves_the_plot(tmp_path, capsys):
    path = write_csv(tmp_path / "x.csv", n=400)
    plot = tmp_path / "plot.png"
    call_command(
        "evaluate_predictive",
        "--dataset",
        "x-education",
        str(path),
        "--folds",
        "3",
        "--inner-folds",
        "3",
        "--boost-iterations",
        "30",
        "--plot",
        str(plot),
    )
    out = capsys.readouterr().out
    for needle in ("ROC AUC", "accuracy", "precision", "recall", "Brier", "dropped: Tags"):
        assert needle in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    auc = float(out.split("ROC AUC ")[1].split()[0])
    assert 0.6 < auc < 0.95  # learns the planted signal, without the planted leak
