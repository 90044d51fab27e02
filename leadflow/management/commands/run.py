"""Run the whole product on one machine: migrate, seed demo data, worker + beat, web server.

The embedded profile's background work is real Celery: a worker with an embedded beat scheduler
runs as a child process, talking to the web server through kombu's filesystem broker (or Redis
when CELERY_BROKER_URL says so). Ctrl-C stops both.
"""

import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Start LeadFlow with a background worker and scheduler (for laptops and demos)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-demo", action="store_true", help="do not seed demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM (service managers, tests) must unwind through ``finally`` and stop the worker.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"]:
            call_command("seed_demo", stdout=self.stdout)
            call_command("seed_scoring_demo", stdout=self.stdout)
            call_command("seed_handover_demo", stdout=self.stdout)
            # the demo's history was bulk-loaded: count it into the reports' rollups
            call_command("reports_rebuild", stdout=self.stdout)
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
            ]
        )
        self.stdout.write(
            self.style.SUCCESS(f"LeadFlow is running at http://{options['addrport']}/")
        )
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
