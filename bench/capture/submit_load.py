"""The public form submission endpoint under open-loop load, beside ``/v1/track`` in the same run.

Run (docs/benchmarks.md has the figures and the exact commands):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_capture \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 LEADFLOW_RATE_LIMIT_REDIS_URL=redis://127.0.0.1:6379/7 \
    flock /work/bench.lock python bench/capture/submit_load.py --leads 10000

1. Setup: ``generate_data`` leads (no activities, ``external_id = 'u-<id>'``); a live form with
   e-mail, first name, company and a hidden utm_source field, one consent checkbox, an allowed
   origin; a secret API key for ``/v1/track``. Challenge tokens are issued 10 s in the past and
   solved before the clock starts (the browser solves them while the visitor types), one per
   submission: a token is single-use.
2. Four open-loop phases (``bench/openloop.py``: request k is due at ``k / rate``, latency from
   that due time), each ``--seconds`` long, in this order: submit at ``--low`` (50/s), track at
   ``--low``, submit at ``--high`` (300/s), track at ``--high``. ``--new-share`` of submissions
   come from e-mails nobody has (a new lead), the rest from known leads' e-mails (an update that
   may add, never rewrite).
3. Reports every phase (achieved rate, completed share, errors, p50/p95/p99, send lag), the
   submit ÷ track p99 ratios, the verdicts (≥ 300/s sustained, p99 < 100 ms at 50/s), and the
   load average before and after.
Gunicorn runs with the production settings (DEBUG off) on loopback; all loops are bounded.
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
# the bench signs challenges; gunicorn must check them with the same key
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 50)
# one client IP sends everything here: lift the per-IP and per-form limits for the run
os.environ.setdefault("LEADFLOW_CAPTURE_IP_RATE_LIMIT", "100000000")
os.environ.setdefault("LEADFLOW_CAPTURE_FORM_RATE_LIMIT", "100000000")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.exceptions import ValidationError  # noqa: E402
from django.core.validators import validate_email  # noqa: E402
from django.db import connection  # noqa: E402

from bench.api.ingest import URL, setup, start_server  # noqa: E402
from bench.openloop import run_open_loop, verdict  # noqa: E402
from capture import challenge  # noqa: E402
from capture.models import (  # noqa: E402
    ConsentText,
    FieldKind,
    Form,
    FormField,
    HiddenSource,
    Submission,
)
from capture.submit import submissions_sweep  # noqa: E402
from leads.models import Lead  # noqa: E402

ORIGIN = "https://www.bench.example"


def make_form() -> Form:
    form = Form.objects.create(
        name=f"bench {uuid.uuid4().hex[:6]}",
        status=Form.Status.LIVE,
        allowed_origins=ORIGIN,
        min_fill_seconds=3,
    )
    for position, (trait, kind, label, required) in enumerate(
        [
            ("email", FieldKind.EMAIL, "E-mail", True),
            ("firstName", FieldKind.TEXT, "First name", False),
            ("company", FieldKind.TEXT, "Company", False),
        ]
    ):
        FormField.objects.create(
            form=form, position=position, trait=trait, kind=kind, label=label, required=required
        )
    FormField.objects.create(
        form=form,
        position=9,
        trait="utm_source",
        kind=FieldKind.HIDDEN,
        label="utm_source",
        hidden_source=HiddenSource.UTM_SOURCE,
    )
    ConsentText.objects.create(
        form=form, key="newsletter", version=1, text="Send me the newsletter.", channel="email"
    )
    return form


def _solved(public_id: str) -> tuple[str, str]:
    issued = challenge.issue(public_id, now=time.time() - 10)
    token = str(issued["token"])
    return token, challenge.solve(token, int(str(issued["difficulty"])))


def solved_tokens(public_id: str, count: int) -> list[tuple[str, str]]:
    with ProcessPoolExecutor() as pool:
        return list(pool.map(_solved, [public_id] * count, chunksize=64))


def submissions(
    form: Form, count: int, new_share: float, known: list[str], tag: str
) -> list[bytes]:
    rng = random.Random(tag)
    tokens = solved_tokens(form.public_id, count)
    bodies = []
    for k, (token, proof) in enumerate(tokens):
        email = f"{tag}-{k}@new.example" if rng.random() < new_share else rng.choice(known)
        answers = {
            "email": email,
            "firstName": "Bench",
            "company": f"Company {k % 97}",
            "utm_source": "bench",
            "consent.newsletter": "1",
            "lf_website": "",
            "lf_token": token,
            "lf_proof": proof,
            "lf_anonymous_id": f"anon-{tag}-{k}",
            "lf_page": f"{ORIGIN}/landing?utm_source=bench",
        }
        bodies.append(json.dumps(answers).encode())
    return bodies


def phase(
    url: str,
    bodies: list[bytes],
    rate: float,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    senders: int,
) -> dict[str, object]:
    local = threading.local()

    def send(k: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            if auth:
                local.session.auth = auth
        response = local.session.post(url, data=bodies[k], headers=headers, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code} {response.text[:80]}")

    return run_open_loop(send, rate=rate, count=len(bodies), senders=senders).summary()


def tracks(users: list[str], count: int, tag: str) -> list[bytes]:
    rng = random.Random(tag)
    return [
        json.dumps(
            {"userId": rng.choice(users), "event": "Trial Started", "messageId": f"{tag}-{k}"}
        ).encode()
        for k in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--low", type=float, default=50.0)
    parser.add_argument("--high", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--senders", type=int, default=48)
    parser.add_argument("--new-share", type=float, default=0.5)
    args = parser.parse_args()
    key, users = setup(args.leads)
    form = make_form()
    emails = Lead.objects.values_list("email", flat=True)[: args.leads]
    known = [e for e in emails if e and _valid(e)]
    run = uuid.uuid4().hex[:6]
    low_n, high_n = int(args.low * args.seconds), int(args.high * args.seconds)
    submit_low = submissions(form, low_n, args.new_share, known, f"l{run}")
    submit_high = submissions(form, high_n, args.new_share, known, f"h{run}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
    submit_url = f"{URL}/f/{form.public_id}/submit"
    submit_headers = {"Content-Type": "application/json", "Origin": ORIGIN}
    track_url, track_headers = f"{URL}/v1/track", {"Content-Type": "application/json"}
    report: dict[str, object] = {"args": vars(args), "load_average_before": os.getloadavg()}
    server = start_server(args)
    try:
        for _ in range(args.workers * 3):  # warm every worker's connection and imports
            requests.get(f"{URL}/healthz", timeout=30)
            requests.post(
                track_url,
                data=tracks(users, 1, f"w{run}{_}")[0],
                headers=track_headers,
                auth=(key, ""),
                timeout=30,
            )
        phases = {
            "submit_low": (submit_url, submit_low, args.low, submit_headers, None),
            "track_low": (
                track_url,
                tracks(users, low_n, f"tl{run}"),
                args.low,
                track_headers,
                (key, ""),
            ),
            "submit_high": (submit_url, submit_high, args.high, submit_headers, None),
            "track_high": (
                track_url,
                tracks(users, high_n, f"th{run}"),
                args.high,
                track_headers,
                (key, ""),
            ),
        }
        for name, (url, bodies, rate, headers, auth) in phases.items():
            before = os.getloadavg()[0]
            result = phase(url, bodies, rate, headers, auth, args.senders)
            result["load_1min_before_after"] = [round(before, 2), round(os.getloadavg()[0], 2)]
            report[name] = result
            print(name, json.dumps(result), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    low, high = report["submit_low"], report["submit_high"]
    report["submit_over_track_p99_low"] = _ratio(low, report["track_low"])
    report["submit_over_track_p99_high"] = _ratio(high, report["track_high"])
    report["verdict_p99_under_100ms_at_low"] = verdict(low["p99_ms"], 100, low["completed_share"])  # type: ignore[index]
    report["verdict_sustains_high"] = (
        "target met"
        if high["completed_share"] == 1.0 and high["achieved_rate"] >= 0.97 * args.high  # type: ignore[index]
        else "target missed"
    )
    before = os.getloadavg()[0]
    drained = drain()
    drained["load_1min_before_after"] = [round(before, 2), round(os.getloadavg()[0], 2)]
    report["worker_drain"] = drained
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


def _valid(email: str) -> bool:
    """generate_data writes non-ASCII local parts (garcía.…), which forms refuse like the API."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def drain() -> dict[str, object]:
    """One worker process turning the received submissions into leads, timed (in this process:
    the bench's gunicorn has no worker beside it, so the endpoint is measured alone)."""
    waiting = Submission.objects.filter(status=Submission.Status.RECEIVED).count()
    started = time.perf_counter()
    done = 0
    while True:
        step = submissions_sweep(older_than_seconds=0, limit=500)
        if not step:
            break
        done += step
    seconds = time.perf_counter() - started
    failed = Submission.objects.filter(status=Submission.Status.FAILED).count()
    return {
        "received": waiting,
        "processed": done,
        "failed": failed,
        "seconds": round(seconds, 2),
        "per_second": round(done / seconds, 1) if seconds else None,
    }


def _ratio(a: object, b: object) -> float | None:
    pa, pb = a["p99_ms"], b["p99_ms"]  # type: ignore[index]
    return round(pa / pb, 2) if pa and pb else None


if __name__ == "__main__":
    main()
