"""Run the whole product on one machine: migrate, seed demo data, worker + beat, web server.

The embedded profile's background work is real Celery: a worker with an embedded beat scheduler
runs as a child process, talking to the web server through kombu's filesystem broker (or Redis
when CELERY_BROKER_URL says so). Ctrl-C stops both.

The URL and the demo logins are printed last, once the web server answers and the worker has
started, so they are not lost above the worker's banner and runserver's start-up lines.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.commands.runserver import naiveip_re
from django.urls import reverse

from leadflow.mail import display_path

READY_TIMEOUT_SECONDS = 180  # a first start on a busy 2-core laptop


def _host_port(addrport: str) -> tuple[str, int]:
    match = re.match(naiveip_re, addrport)
    if match is None or not match["port"].isdigit():
        raise CommandError(f"{addrport!r} is not a port or an address:port, e.g. 127.0.0.1:8001.")
    host = (match["addr"] or "127.0.0.1").strip("[]")
    return host, int(match["port"])


def _answers(host: str, port: int) -> bool:
    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104  (a bind address)
    try:
        with socket.create_connection((target, port), timeout=1):
            return True
    except OSError:
        return False


def _origin(host: str, port: int) -> str:
    """The origin a browser on this machine opens (a wildcard bind address is not one)."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104  (a bind address)
    shown = f"[{target}]" if ":" in target else target
    return f"http://{shown}:{port}"


class Command(BaseCommand):
    help = "Start LeadFlow with a background worker and scheduler (for laptops and demos)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "addrport", nargs="?", default="127.0.0.1:8000", help="e.g. 8001 or 127.0.0.1:8001"
        )
        parser.add_argument("--no-demo", action="store_true", help="do not seed demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM (service managers, tests) must unwind through ``finally`` and stop the worker.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        addrport = options["addrport"]
        host, port = _host_port(addrport)
        if _answers(host, port):
            raise CommandError(f"Something already answers on {host}:{port}; choose another port.")
        call_command("migrate", interactive=False, verbosity=0)
        logins = ""
        if not options["no_demo"]:
            seeded = StringIO()
            call_command("seed_demo", stdout=seeded)
            *progress, logins = seeded.getvalue().rstrip("\n").split("\n")  # last: the logins
            if progress:
                self.stdout.write("\n".join(progress))
            call_command("seed_scoring_demo", stdout=self.stdout)
            call_command("seed_accounts_demo", stdout=self.stdout)
            call_command("seed_handover_demo", stdout=self.stdout)
            # the demo form and analytics key, allowed on this run's origin (the landing page)
            call_command("seed_capture_demo", origin=[_origin(host, port)], stdout=self.stdout)
            # the demo's history was bulk-loaded: count it into the reports' rollups
            call_command("reports_rebuild", stdout=self.stdout)
            call_command("attribution_rebuild", stdout=self.stdout)  # and into attribution's
            call_command("seed_money_demo", stdout=self.stdout)  # spend on the demo's campaigns
        with tempfile.TemporaryDirectory(prefix="leadflow-run-") as tmp:
            ready = Path(tmp) / "worker-ready"
            worker = subprocess.Popen(  # noqa: S603  (our own interpreter and fixed arguments)
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "leadflow",
                    "worker",
                    "--beat",
                    "--pool=threads",
                    "--concurrency=2",
                    "--loglevel=WARNING",
                    f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
                ],
                env={**os.environ, "LEADFLOW_WORKER_READY_FILE": str(ready)},
            )
            web = threading.Thread(
                target=call_command,
                args=("runserver", addrport),
                kwargs={"use_reloader": False},
                daemon=True,
                name="runserver",
            )
            try:
                web.start()
                self._wait_until_ready(worker, web, host, port, ready)
                self._banner(host, port, logins, landing=not options["no_demo"])
                while web.is_alive():
                    web.join(timeout=1)
            except KeyboardInterrupt:
                pass
            finally:
                worker.terminate()
                worker.wait(timeout=20)

    def _wait_until_ready(
        self,
        worker: subprocess.Popen[bytes],
        web: threading.Thread,
        host: str,
        port: int,
        ready: Path,
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not (ready.exists() and _answers(host, port)):
            if worker.poll() is not None:
                raise CommandError(
                    f"The background worker stopped (exit code {worker.returncode})."
                )
            if not web.is_alive():
                raise CommandError("The web server stopped; see the messages above.")
            if time.monotonic() > deadline:
                self.stderr.write("Still waiting for the worker or the web server; going on.")
                return
            time.sleep(0.2)

    def _banner(self, host: str, port: int, logins: str, *, landing: bool = False) -> None:
        shown = f"[{host}]" if ":" in host else host
        lines = ["", "-" * 72]
        if settings.EMAIL_BACKEND == "leadflow.mail.SummaryEmailBackend":
            lines.append(
                "E-mails show here as one line each; whole messages are in "
                f"{display_path(Path(settings.EMAIL_FILE_PATH))}/"
            )
        lines.append(
            self.style.SUCCESS(f"LeadFlow is running at http://{shown}:{port}/")
            + "  (CONTROL-C stops it)"
        )
        if logins:
            lines.append(logins)
        if landing and settings.LEADFLOW_DEMO_LANDING:
            lines.append(
                f"Demo landing page (lead capture): {_origin(host, port)}"
                f"{reverse('capture_demo:landing')}"
            )
        self.stdout.write("\n".join(lines))
