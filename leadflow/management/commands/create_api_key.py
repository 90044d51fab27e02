from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.apikeys import Scope, api_key_create
from leadflow.models import User


class Command(BaseCommand):
    help = "Create an API key and print it (once: only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            nargs="+",
            required=True,
            help=f"one or more of: {', '.join(s.value for s in Scope)} (space or comma separated)",
        )
        parser.add_argument(
            "--user",
            help="act as this existing user (default: a new integration account api:<name>)",
        )
        parser.add_argument("--rate-limit", type=int, help="requests per rate window")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
        scopes = [s for chunk in options["scopes"] for s in chunk.split(",")]
        try:
            created = api_key_create(
                name=options["name"], scopes=scopes, user=user, rate_limit=options["rate_limit"]
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stderr.write(
            f"Created key {created.api_key.prefix} ({', '.join(created.api_key.scopes)}) acting as "
            f"{created.api_key.user.username}. It is shown only now:"
        )
        self.stdout.write(created.secret)
