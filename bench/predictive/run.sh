#!/usr/bin/env bash
# Predictive benchmark on a copy of the 1M-lead / 10M-activity database (docs/benchmarks.md).
#   createdb -h 127.0.0.1 -U postgres -T leadflow_bench leadflow_bench_predictive
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadflow_bench_predictive bench/predictive/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to the benchmark copy}"
.venv/bin/python manage.py migrate --verbosity 0
.venv/bin/python bench/predictive/bench.py "$@"
