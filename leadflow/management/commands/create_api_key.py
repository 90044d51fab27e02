from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.apikeys import Scope, api_key_create
from leadflow.models import ApiKey, User


class Command(BaseCommand):
    help = (
        "Create an API key and print it (once: only its hash is stored). With --public, a "
        "website's key: its identity secret is printed on the next line, also only now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            nargs="+",
            help=f"one or more of: {', '.join(s.value for s in Scope)} (space or comma "
            "separated); a --public key: events:write, the default",
        )
        parser.add_argument(
            "--public",
            action="store_true",
            help="a public (browser) key: /v1/* only; changes known leads only when signed",
        )
        parser.add_argument(
            "--user",
            help="act as this existing user (default: a new integration account api:<name>)",
        )
        parser.add_argument("--rate-limit", type=int, help="requests per rate window")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="a --public key: a web origin whose pages may send with it "
            "(https://www.example.com); repeat for more",
        )
        parser.add_argument(
            "--tracking-consent-required",
            action="store_true",
            help="a --public key: accept page/track/identify only with the visitor's consent "
            "in the message context (docs/capture.md)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
        public = options["public"]
        if not options["scopes"] and not public:
            raise CommandError("Name the key's scopes (--scopes).")
        chunks = options["scopes"] or [Scope.EVENTS_WRITE.value]
        scopes = [s for chunk in chunks for s in chunk.split(",")]
        try:
            created = api_key_create(
                name=options["name"],
                scopes=scopes,
                user=user,
                rate_limit=options["rate_limit"],
                kind=ApiKey.Kind.PUBLIC if public else ApiKey.Kind.SECRET,
                allowed_origins=options["origin"],
                tracking_consent_required=options["tracking_consent_required"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        key = created.api_key
        self.stderr.write(
            f"Created {key.kind} key {key.prefix} ({', '.join(key.scopes)}) acting as "
            f"{key.user.username}. It is shown only now:"
        )
        self.stdout.write(created.secret)
        if key.allowed_origins:
            self.stderr.write(f"Allowed origins: {', '.join(key.allowed_origins.split())}")
        if created.identity_secret:
            self.stderr.write(
                "Its identity secret (keep it on your server: it signs your users' ids; "
                "see docs/api.md, Public and secret keys), also shown only now:"
            )
            self.stdout.write(created.identity_secret)
