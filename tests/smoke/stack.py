"""Production smoke, service half: the environment docker-compose.yml gives the app processes,
and the scratch database and Redis DB the smoke owns. Driven by .ci/smoke; not a pytest module.

    python tests/smoke/stack.py env --set DATABASE_URL=... --set CELERY_BROKER_URL=...
    python tests/smoke/stack.py create-db|drop-db POSTGRES_URL NAME
    python tests/smoke/stack.py flush-redis REDIS_URL

``env`` prints one ``NAME=value`` per line: the Dockerfile's ``ENV`` lines, then the compose
file's ``x-app.environment`` with ``${VAR:-default}`` / ``${VAR:?message}`` resolved from this
process's environment as ``docker compose`` would. ``--set`` replaces a value that names one of
the compose file's own hosts (``postgres``, ``redis``); it must name a variable compose sets,
so the smoke cannot quietly run with a variable production does not have.
"""

import argparse
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}|\$(\w+)")


def _interpolate(value: str, environ: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        got = environ.get(name, "")
        if match.group(2) == "-":
            return got or match.group(3)
        if match.group(2) == "?" and not got:
            raise SystemExit(f"docker-compose.yml needs {name}: {match.group(3)}")
        return got

    return _INTERPOLATION.sub(one, value)


def dockerfile_env() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                name, _, value = pair.partition("=")
                found[name] = value
    return found


def compose_env(overrides: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    declared = compose["x-app"]["environment"]
    unknown = set(overrides) - set(declared)
    if unknown:
        raise SystemExit(
            f"--set {sorted(unknown)}: docker-compose.yml's x-app sets no such variable"
        )
    resolved = {name: _interpolate(str(value), environ) for name, value in declared.items()}
    return {**dockerfile_env(), **resolved, **overrides}


def _check_name(name: str) -> str:
    # the smoke drops what it creates: refuse anything that is not obviously a scratch database
    if not re.fullmatch(r"[a-z0-9_]*smoke[a-z0-9_]*", name):
        raise SystemExit(f"refusing database name {name!r}: it must contain 'smoke'")
    return name


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    env_cmd = sub.add_parser("env")
    env_cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    for name in ("create-db", "drop-db"):
        db_cmd = sub.add_parser(name)
        db_cmd.add_argument("postgres_url")
        db_cmd.add_argument("name")
    redis_cmd = sub.add_parser("flush-redis")
    redis_cmd.add_argument("redis_url")
    args = parser.parse_args(argv)

    if args.command == "env":
        overrides = dict(item.split("=", 1) for item in args.set)
        for name, value in compose_env(overrides, dict(os.environ)).items():
            if "\n" in value:
                raise SystemExit(f"{name} has a line break")
            sys.stdout.write(f"{name}={value}\n")
    elif args.command in ("create-db", "drop-db"):
        import psycopg
        from psycopg import sql

        db = sql.Identifier(_check_name(args.name))
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
            if args.command == "create-db":
                conn.execute(sql.SQL("CREATE DATABASE {}").format(db))
    elif args.command == "flush-redis":
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
