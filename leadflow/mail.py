"""The development e-mail backend: one line per e-mail on the console, the whole message in a
file. Django's console backend printed every MIME message whole (text and HTML parts), so the
demo's notification e-mails buried the output of ``scripts/run``.

Each e-mail becomes one ``.eml`` file (opens in any mail client) in ``EMAIL_FILE_PATH``
(``DJANGO_EMAIL_FILE_PATH``, default ``var/mail/``); the console line names the recipients, the
subject and that file.
"""

import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.utils import timezone

_console = threading.Lock()  # worker threads share the terminal: one whole line at a time


class SummaryEmailBackend(BaseEmailBackend):
    def __init__(
        self,
        *,
        fail_silently: bool = False,
        file_path: str | None = None,
        stream: TextIO | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)
        self.stream = stream or sys.stdout

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                path = self._write(message)
            except OSError:
                if not self.fail_silently:
                    raise
                continue
            with _console:
                self.stream.write(
                    f"E-mail to {', '.join(message.recipients())}: {message.subject}"
                    f"  (full message: {display_path(path)})\n"
                )
                self.stream.flush()
            sent += 1
        return sent

    def _write(self, message: EmailMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.message().as_bytes(linesep="\n"))
        return path


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it is inside it (shorter to read)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
