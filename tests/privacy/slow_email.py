"""An e-mail backend for worker tests: each message takes 50 ms and goes nowhere."""

import time
from collections.abc import Sequence

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class SlowEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        time.sleep(0.05 * len(email_messages))
        return len(email_messages)
