"""A worker + beat process group for reliability tests, killable with SIGKILL as a whole."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings

from tests.worker import ROOT, database_url_for_subprocesses


class WorkerGroup:
    def __init__(
        self, env: Mapping[str, str], log: Path, schedule: Path, beat: bool = True
    ) -> None:
        self.env, self.log, self.schedule, self.beat = env, log, schedule, beat
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: IO[bytes] | None = None

    def start(self) -> None:
        self._close_log()
        out = self.out = open(self.log, "ab")  # noqa: SIM115  (closed when the process ends)
        self.proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadflow",
                "worker",
                *(["--beat"] if self.beat else []),
                "--pool=threads",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--schedule={self.schedule}",
            ],
            cwd=ROOT,
            env=dict(self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 takes beat down too
        )

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._close_log()


@contextmanager
def worker_group(
    tmp_path: Path, broker: str | None = None, name: str = "worker", beat: bool = True, **extra: str
) -> Iterator[WorkerGroup]:
    """A worker process (with beat unless ``beat=False``); ``name`` keeps several groups apart."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocesses(),
        "CELERY_BROKER_URL": broker or settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "LEADFLOW_WEBHOOK_ALLOW_PRIVATE": "1",
        "LEADFLOW_OUTBOX_LEASE_SECONDS": "5",
        "LEADFLOW_OUTBOX_REQUEUE_SECONDS": "30",
        "LEADFLOW_OUTBOX_SWEEP_SECONDS": "2",
        "LEADFLOW_SLA_SCAN_SECONDS": "5",
        **extra,
    }
    group = WorkerGroup(env, tmp_path / f"{name}.log", tmp_path / f"{name}-beat-schedule", beat)
    try:
        yield group
    finally:
        group.stop()
