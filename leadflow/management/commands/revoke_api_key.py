from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.apikeys import api_key_revoke
from leadflow.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the 8 characters after lf_)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = options["prefix"].removeprefix("lf_").split("_", 1)[0]
        key = ApiKey.objects.filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"There is no API key with prefix {prefix!r}.")
        api_key_revoke(key_id=key.pk)
        self.stdout.write(f"Revoked {key.name} ({key.prefix}).")
