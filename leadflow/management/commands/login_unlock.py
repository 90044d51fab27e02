from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.lockout import login_unlock


class Command(BaseCommand):
    help = (
        "Unlock log-ins: forget the failed log-ins of a user name and/or from an address "
        "(audited, unlike axes' own axes_reset commands)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="")
        parser.add_argument("--ip", default="", help="a network address, e.g. 203.0.113.9")
        parser.add_argument("--all", action="store_true", help="every user name and address")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["username"] or options["ip"] or options["all"]):
            raise CommandError("Name --username, --ip or --all.")
        removed = login_unlock(
            actor=None,
            username=options["username"],
            ip_address=options["ip"],
            everything=options["all"],
        )
        self.stdout.write(
            f"Forgot {removed} failed log-in row(s)." if removed else "Nothing was locked."
        )
