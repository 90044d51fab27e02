"""CSV import benchmark: time and peak memory of importing N rows, and memory against file size.

    createdb -h 127.0.0.1 -U postgres lf_bench_privacy
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_privacy .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_privacy \
        .venv/bin/python bench/privacy/import_bench.py [--sizes 10000 50000 100000] [--naive 2000]

The file is generated deterministically (seed 9): semicolons, a UTF-8 BOM, mixed-case e-mails,
a quoted multi-line notes column, Excel serial dates and 10% bad rows. Each size runs in a fresh
Python process against an emptied leads table, so its peak RSS (``ru_maxrss``) is its own:
the figure to watch is the growth of peak memory with the file size (it should be flat).
Phases per size: parse-only (read + validate every row, no database), the import, and a re-run
of the same file (idempotent: every row skipped). Baseline, same run: ``leads.services.
lead_create`` called once per row (the naive per-row path), on ``--naive`` rows.
"""

import argparse
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")


def generate(path: Path, rows: int, seed: int = 9) -> None:
    rng = random.Random(seed)  # noqa: S311  (benchmark data, not secrets)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["E-Mail", "First Name", "Last Name", "Company", "Country", "Employees",
                         "Signed up", "Notes"])  # fmt: skip
        for n in range(rows):
            email = f"Bench.{seed}.{n}@Company{n % 997}.Example"
            country = rng.choice(["DE", "gb", "FR", "us", "NL"])
            employees = str(rng.randint(1, 20000))
            date = str(rng.randint(43000, 45500)) if n % 2 else "2024-03-0" + str(1 + n % 9)
            if n % 10 == 7:  # 10% bad rows, in rotating columns
                bad = n % 4
                email = "not-an-email" if bad == 0 else email
                country = "Germany" if bad == 1 else country
                employees = "many" if bad == 2 else employees
                date = "31/02/2024" if bad == 3 else date
            writer.writerow([email, f"First{n}", f"Last{n}", f"Company {n % 997}", country,
                             employees, date, f"line one\nline two {n}"])  # fmt: skip


def _setup() -> None:
    import django

    django.setup()


def _empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_lead, leads_stagechange, leads_activity, privacy_importjob, "
            "privacy_importrowerror RESTART IDENTITY CASCADE"
        )


def child(path: Path, phase: str) -> dict[str, float]:
    """One measurement in this (fresh) process; prints JSON."""
    _setup()
    from django.core.files import File

    from leads.services import lead_create
    from privacy.importing import CsvSource, check_mapping, detect, parse_row
    from privacy.imports import import_job_create, import_run

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result: dict[str, float] = {}
    if phase == "parse":
        with path.open("rb") as raw:
            source = CsvSource(raw, detect(raw))
            mapping = check_mapping(
                {"E-Mail": "email", "First Name": "first_name", "Last Name": "last_name",
                 "Company": "company", "Country": "country", "Employees": "employees",
                 "Signed up": "created_at", "Notes": "trait:notes"},
                source.header,
            )  # fmt: skip
            ok = sum(
                parse_row(n, cells, header=source.header, mapping=mapping).ok
                for n, cells, _ in source.records()
                if cells is not None
            )
        result["ok_rows"] = ok
    elif phase in ("import", "rerun"):
        if phase == "import":
            _empty()
        with path.open("rb") as handle:
            job = import_job_create(
                upload=File(handle, name=path.name), actor=None, enqueue=False,
                mapping={"E-Mail": "email", "First Name": "first_name", "Last Name": "last_name",
                         "Company": "company", "Country": "country", "Employees": "employees",
                         "Signed up": "created_at", "Notes": "trait:notes"},
            )  # fmt: skip
        job = import_run(job_id=job.pk)
        result.update({k: float(v) for k, v in job.summary.items()})
    elif phase == "naive":
        _empty()
        with path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter=";")
            next(reader)
            for cells in reader:
                try:
                    lead_create(data={"email": cells[0], "first_name": cells[1],
                                      "last_name": cells[2], "company": cells[3]})  # fmt: skip
                except Exception:  # noqa: S112, BLE001  (bad rows are skipped, as an import would)
                    continue
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_before_mb"] = rss_before / 1024
    print(json.dumps(result))  # noqa: T201
    return result


def run(path: Path, phase: str) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", str(path), phase],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        naive_file = Path(tmp) / "naive.csv"
        generate(naive_file, args.naive)
        naive = run(naive_file, "naive")
        naive_rate = args.naive / naive["seconds"]
        print(f"baseline: lead_create per row, {args.naive} rows: {naive['seconds']:.1f} s "  # noqa: T201
              f"= {naive_rate:,.0f} rows/s")  # fmt: skip
        print("| rows | file MB | parse only s | import s | rows/s | × baseline | re-run s | "  # noqa: T201
              "created / failed | re-run skipped | peak RSS MB (import) |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")  # noqa: T201
        for size in args.sizes:
            path = Path(tmp) / f"bench-{size}.csv"
            generate(path, size)
            parse = run(path, "parse")
            imp = run(path, "import")
            again = run(path, "rerun")
            rate = size / imp["seconds"]
            print(  # noqa: T201
                f"| {size:,} | {path.stat().st_size / 1e6:.1f} | {parse['seconds']:.1f} | "
                f"{imp['seconds']:.1f} | {rate:,.0f} | {rate / naive_rate:.1f} | "
                f"{again['seconds']:.1f} | {imp['created']:.0f} / {imp['failed']:.0f} | "
                f"{again['skipped']:.0f} | {imp['peak_rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
