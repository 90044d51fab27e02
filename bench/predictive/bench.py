"""Time training on 100,000 closed outcomes and scoring every lead (1M) on PostgreSQL.

Baseline measured in the same run: a bare full pass over the leads table (keyset batches of
ids, no features, no model), so the ratio shows what the features and the model cost.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from leads.models import Lead  # noqa: E402
from predictive.services import (  # noqa: E402
    predictive_score_all,
    predictive_score_changed,
    predictive_train,
)


def main() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET random_page_cost = 1.1")  # SSD; see PERFORMANCE-NOTES.md
    size = settings.PREDICTIVE_BATCH_SIZE
    started = time.perf_counter()
    last, n = 0, 0
    while ids := list(
        Lead.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
    ):
        n += len(ids)
        last = ids[-1]
    baseline = time.perf_counter() - started
    print(f"baseline: keyset pass over {n:,} lead ids in batches of {size:,}: {baseline:.1f} s")

    started = time.perf_counter()
    row = predictive_train()
    train = time.perf_counter() - started
    m = row.metrics
    print(
        f"train: {row.n_samples:,} outcomes ({row.n_positive:,} positive) in {train:.1f} s "
        f"(features {m['seconds_features']} s, fit {m['seconds_fit']} s); chosen {row.algorithm}, "
        f"CV AUC {m['candidates']}"
    )
    result = predictive_score_all(model_id=row.pk)
    print(
        f"score all: {result.scored:,} leads, {result.written:,} rows written in "
        f"{result.seconds:.1f} s ({result.scored / result.seconds:,.0f} leads/s; "
        f"{result.seconds / baseline:.1f}x the baseline pass)"
    )
    result2 = predictive_score_all(model_id=row.pk)
    print(
        f"score all again (nothing changed): {result2.written:,} written in {result2.seconds:.1f} s"
    )
    changed = predictive_score_changed()
    if changed is not None:
        print(f"score changed (none since): {changed.scored:,} leads in {changed.seconds:.2f} s")


if __name__ == "__main__":
    main()
