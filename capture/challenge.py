"""The signed challenge a script or iframe embed must answer before a submission counts.

``issue(form)`` gives the browser a token signed by the server (form, issue time, a random nonce,
the difficulty). Submitting, the browser sends the token back with a proof of work: a number
``n`` such that SHA-256 of ``"<token>:<n>"`` starts with ``difficulty`` zero bits (about
2**difficulty hashes in the browser, one on the server). ``verify`` checks the signature, the
form, the age (at least the form's minimum fill time, at most ``MAX_AGE``) and the proof.

Why this and not a captcha: no third party sees the visitor, nothing to solve for a person, and
a bot must run JavaScript and spend time per submission. The token's issue time is what makes
"sent too fast" checkable. A plain HTML ``<form>`` on a static site cannot fetch a token, so it
is defended by the honeypot, the origin check and the rate limits only (docs/capture.md).
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core import signing

SALT = "capture.challenge"
MAX_AGE = 24 * 3600  # a form left open for a day needs a reload


class Failure(StrEnum):
    MISSING = "missing"
    BAD_SIGNATURE = "bad_signature"
    OTHER_FORM = "other_form"
    EXPIRED = "expired"
    TOO_FAST = "too_fast"
    NO_PROOF = "no_proof"


@dataclass(frozen=True)
class Verdict:
    failure: Failure | None
    age_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


def difficulty() -> int:
    return int(getattr(settings, "LEADFLOW_CAPTURE_POW_BITS", 12))


def issue(public_id: str, *, now: float | None = None) -> dict[str, object]:
    """A fresh challenge for one showing of the form (what the config response carries)."""
    issued = int((time.time() if now is None else now) * 1000)
    bits = difficulty()
    token = signing.dumps(
        [public_id, issued, secrets.token_hex(8), bits], salt=SALT, compress=False
    )
    return {"token": token, "difficulty": bits}


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def proof_ok(token: str, proof: str, bits: int) -> bool:
    if not proof or len(proof) > 20 or not proof.isdigit():
        return False
    digest = hashlib.sha256(f"{token}:{proof}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(token: str, bits: int) -> str:
    """What the browser does (tests and benchmarks use it)."""
    n = 0
    while not proof_ok(token, str(n), bits):
        n += 1
    return str(n)


def verify(
    public_id: str, token: str, proof: str, *, min_fill_seconds: float, now: float | None = None
) -> Verdict:
    if not token:
        return Verdict(Failure.MISSING)
    try:
        form_id, issued, _nonce, bits = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return Verdict(Failure.BAD_SIGNATURE)
    if form_id != public_id:
        return Verdict(Failure.OTHER_FORM)
    age = (time.time() if now is None else now) - issued / 1000
    if age > MAX_AGE:
        return Verdict(Failure.EXPIRED, age)
    if age < min_fill_seconds:
        return Verdict(Failure.TOO_FAST, age)
    if not proof_ok(token, proof, int(bits)):
        return Verdict(Failure.NO_PROOF, age)
    return Verdict(None, age)
