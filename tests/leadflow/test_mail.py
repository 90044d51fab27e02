"""The development e-mail backend: a line per e-mail on the console, the message in a file."""

import os
import subprocess
import sys
from email import message_from_bytes
from io import StringIO

from django.core.mail import EmailMultiAlternatives

from leadflow.mail import SummaryEmailBackend
from tests.worker import ROOT


def test_each_email_is_one_console_line_and_one_eml_file(tmp_path):
    out = StringIO()
    backend = SummaryEmailBackend(file_path=str(tmp_path), stream=out)
    messages = []
    for n in (1, 2):
        message = EmailMultiAlternatives(
            f"New MQL #{n}", f"Plain body {n}\n" * 40, "leadflow@localhost", [f"rep{n}@demo.test"]
        )
        message.attach_alternative(f"<p>HTML body {n}</p>", "text/html")
        messages.append(message)
    assert backend.send_messages(messages) == 2

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("E-mail to rep1@demo.test: New MQL #1  (full message: ")
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2
    assert all(str(f) in out.getvalue() for f in files)
    parsed = [message_from_bytes(f.read_bytes()) for f in files]
    assert sorted(p["To"] for p in parsed) == ["rep1@demo.test", "rep2@demo.test"]
    bodies = [
        part.get_payload(decode=True).decode()
        for part in parsed[0].walk()
        if part.get_content_maintype() == "text"
    ]
    assert any("Plain body" in b for b in bodies)
    assert any("<p>HTML body" in b for b in bodies)


def test_the_embedded_profile_prints_a_summary_not_the_mime_message(tmp_path):
    """`manage.py sendtestemail` with no e-mail settings, as under `scripts/run`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "sendtestemail", "ops@example.test"],
        cwd=ROOT,
        env={**env, "DJANGO_EMAIL_FILE_PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    mail_lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(mail_lines) == 1, result.stdout
    assert mail_lines[0].startswith("E-mail to ops@example.test: Test email from")
    assert "Content-Type" not in result.stdout
    (saved,) = tmp_path.glob("*.eml")
    assert "Content-Type: text/plain" in saved.read_text()
