#!/usr/bin/env bash
# Scoring benchmarks (docs/benchmarks.md, "Scoring engine") on a generated database:
#   createdb -h 127.0.0.1 -U postgres lf_bench_scoring
#   export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_scoring
#   python manage.py migrate && python manage.py generate_data --leads 1000000 \
#       --activities-per-lead 10 --seed 42 --anchor 2026-11-01T00:00:00+00:00 --chunk 50000
#   bench/scoring/run.sh            # floor, full rescore x2, incremental 10k, naive loop 10k
#   bench/scoring/run.sh --latency  # starts a worker, 200 activities/s for 30 s
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to the benchmark database}"
.venv/bin/python manage.py migrate --verbosity 0
if [[ " $* " == *" --latency "* ]]; then
  : "${CELERY_BROKER_URL:?set CELERY_BROKER_URL (Redis) for the latency run}"
  # the production worker (docker-compose.yml): prefork, 2 processes. A thread pool started a
  # sweep queued after the last one had drained the marks only at 2 s intervals
  .venv/bin/python -m celery -A leadflow worker --pool=prefork --concurrency=2 \
      --loglevel=WARNING --without-gossip --without-mingle -Q scoring-bench > var/bench-scoring-worker.log 2>&1 &
  worker=$!
  trap 'kill $worker; wait $worker' EXIT
  sleep 5
fi
.venv/bin/python bench/scoring/bench_scoring.py "$@"
