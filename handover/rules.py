"""Pure rules of the handover app: checklists, escalation ladders, retries, signatures, addresses.

No database here; services and validators call these so there is one definition of each rule.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from django.utils.translation import gettext as _


class RuleError(ValueError):
    """A configuration that breaks a rule; ``field`` names the bad part."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# --- qualification checklists (BANT, CHAMP, GPCTBA/C&I) -----------------------------------------


@dataclass(frozen=True)
class ChecklistResult:
    met: tuple[str, ...]
    missing_required: tuple[str, ...]
    passed: bool


def validate_criteria(criteria: Any) -> list[dict[str, str]]:
    """Criteria are a non-empty list of {"key", "label", "help"?} with unique keys."""
    if not isinstance(criteria, list) or not criteria:
        raise RuleError(_("A framework needs a list of criteria."), field="criteria")
    seen: set[str] = set()
    clean = []
    for index, item in enumerate(criteria):
        if not isinstance(item, Mapping) or not str(item.get("key", "")).strip():
            raise RuleError(
                _("Criterion #%(number)s needs a 'key'.") % {"number": index + 1},
                field="criteria",
            )
        key = str(item["key"]).strip()
        if key in seen:
            raise RuleError(
                _("Criterion key %(key)s appears twice.") % {"key": repr(key)}, field="criteria"
            )
        seen.add(key)
        clean.append(
            {"key": key, "label": str(item.get("label") or key), "help": str(item.get("help", ""))}
        )
    return clean


def validate_pass_rule(
    *, criteria: Sequence[Mapping[str, str]], min_met: int, required: Any
) -> None:
    keys = {c["key"] for c in criteria}
    if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
        raise RuleError(_("Required criteria are a list of criterion keys."), field="required")
    unknown = sorted(set(required) - keys)
    if unknown:
        raise RuleError(
            _("Unknown required criteria: %(keys)s.") % {"keys": ", ".join(unknown)},
            field="required",
        )
    if not 0 <= min_met <= len(keys):
        raise RuleError(
            _("The minimum must be between 0 and %(count)s.") % {"count": len(keys)},
            field="min_met",
        )


def validate_answers(*, criteria: Sequence[Mapping[str, str]], answers: Any) -> dict[str, Any]:
    """Answers map criterion keys to {"met": bool, "answer": str, "note": str}."""
    if not isinstance(answers, Mapping):
        raise RuleError(_("Answers map criterion keys to {met, answer, note}."), field="answers")
    keys = {c["key"] for c in criteria}
    unknown = sorted(set(answers) - keys)
    if unknown:
        raise RuleError(
            _("Unknown criteria: %(keys)s.") % {"keys": ", ".join(unknown)}, field="answers"
        )
    clean: dict[str, Any] = {}
    for key, value in answers.items():
        if not isinstance(value, Mapping) or not isinstance(value.get("met", False), bool):
            raise RuleError(
                # Translators: %(key)s is a criterion key; 'met' is a JSON key, not translated
                _("%(key)s: 'met' must be true or false.") % {"key": key},
                field="answers",
            )
        clean[key] = {
            "met": bool(value.get("met", False)),
            "answer": str(value.get("answer", ""))[:2000],
            "note": str(value.get("note", ""))[:2000],
        }
    return clean


def evaluate_checklist(
    *,
    criteria: Sequence[Mapping[str, str]],
    min_met: int,
    required: Sequence[str],
    answers: Mapping[str, Any],
) -> ChecklistResult:
    met = tuple(c["key"] for c in criteria if answers.get(c["key"], {}).get("met") is True)
    missing = tuple(k for k in required if k not in met)
    return ChecklistResult(
        met=met, missing_required=missing, passed=not missing and len(met) >= min_met
    )


# --- SLA escalation ladder -------------------------------------------------------------------


class EscalationAction(StrEnum):
    REMIND_OWNER = "remind_owner"
    NOTIFY_MANAGER = "notify_manager"
    REASSIGN = "reassign"


ESCALATION_ORDER: Final = (
    EscalationAction.REMIND_OWNER,
    EscalationAction.NOTIFY_MANAGER,
    EscalationAction.REASSIGN,
)


def validate_escalation(steps: Any) -> list[dict[str, Any]]:
    """A ladder is a list of {"after_minutes": n ≥ 0 business minutes past due, "action"}.

    Steps run in order: times must not go down, and the actions follow remind owner → notify
    manager → reassign (any may be left out); reassign, which ends the ladder, comes last.
    """
    if not isinstance(steps, list):
        raise RuleError(_("The escalation ladder is a list of steps."), field="escalation")
    clean: list[dict[str, Any]] = []
    last_after, last_rank = -1, -1
    for index, step in enumerate(steps):
        number = index + 1
        if not isinstance(step, Mapping):
            raise RuleError(
                _("Step %(number)s must be an object.") % {"number": number}, field="escalation"
            )
        try:
            action = EscalationAction(str(step.get("action")))
        except ValueError:
            allowed = ", ".join(a.value for a in EscalationAction)
            raise RuleError(
                _("Step %(number)s: action must be one of %(allowed)s.")
                % {"number": number, "allowed": allowed},
                field="escalation",
            ) from None
        after = step.get("after_minutes")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise RuleError(
                # Translators: after_minutes is a JSON key, not translated
                _("Step %(number)s: after_minutes must be a whole number ≥ 0.")
                % {"number": number},
                field="escalation",
            )
        rank = ESCALATION_ORDER.index(action)
        if after < last_after or rank < last_rank:
            raise RuleError(
                _(
                    "Step %(number)s: steps must go remind owner → notify manager → reassign, "
                    "with after_minutes never going down."
                )
                % {"number": number},
                field="escalation",
            )
        if last_rank == ESCALATION_ORDER.index(EscalationAction.REASSIGN):
            raise RuleError(
                _("Step %(number)s: nothing can follow a reassign.") % {"number": number},
                field="escalation",
            )
        last_after, last_rank = after, rank
        clean.append({"after_minutes": after, "action": action.value})
    return clean


# --- outbox retries ----------------------------------------------------------------------------

MAX_ATTEMPTS: Final = 10
RETRY_BASE: Final = timedelta(minutes=2)
RETRY_CAP: Final = timedelta(hours=6)


def retry_delay(attempt: int) -> timedelta:
    """Wait after failed attempt ``attempt`` (1-based): 2, 4, 8 … minutes, capped at 6 h.

    Attempts 1–8 span 2+4+…+128 = 254 min (> 4 h); the default 10 attempts span ≈ 14.5 h.
    """
    delay: timedelta = RETRY_BASE * 2 ** (attempt - 1)
    return min(delay, RETRY_CAP)


# --- webhook signatures and destinations -------------------------------------------------------

SIGNATURE_HEADER: Final = "X-LeadFlow-Signature"
TIMESTAMP_HEADER: Final = "X-LeadFlow-Timestamp"
EVENT_HEADER: Final = "X-LeadFlow-Event"
EVENT_ID_HEADER: Final = "X-LeadFlow-Event-Id"
# Standard Webhooks (https://www.standardwebhooks.com), sent beside ours.
STANDARD_ID_HEADER: Final = "webhook-id"
STANDARD_TIMESTAMP_HEADER: Final = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER: Final = "webhook-signature"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (the format's prefix, not a secret)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_hint(secret: str) -> str:
    """Enough of a secret to tell which one a receiver holds, never enough to sign with."""
    prefix = SECRET_PREFIX if secret.startswith(SECRET_PREFIX) else ""
    return f"{prefix}…{secret[-4:]}"


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``"<timestamp>." + body`` (Stripe's layout).

    The key is the secret string as given (``whsec_…`` included).
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of a secret.

    ``whsec_<base64>`` secrets (all generated since the Standard Webhooks headers) use the decoded
    bytes, as the spec and its libraries do; older secrets use their UTF-8 bytes, which a
    receiver passes to the library as ``Webhook(secret.encode())``.
    """
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def standard_sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``"<msg_id>.<timestamp>.<body>"`` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(mac).decode()}"


def verify(
    *, secret: str, timestamp: int, body: bytes, signature: str, now: int, tolerance: int = 300
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps (replays)."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body), signature)


# Not globally reachable by RFC 8215, though Python before 3.11.10/3.12.4 calls it global.
_LOCAL_NAT64: Final = ipaddress.ip_network("64:ff9b:1::/48")
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")  # incl. 100.100.100.200 (cloud metadata)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _kind(ip: IPAddress) -> str:
    if ip in _LOCAL_NAT64:
        return _("local-use NAT64")
    if ip in _SHARED:
        return _("shared (carrier-grade NAT)")
    for attr, label in (
        ("is_loopback", _("loopback")),
        ("is_link_local", _("link-local")),
        ("is_multicast", _("multicast")),
        ("is_unspecified", _("unspecified")),
        ("is_private", _("private")),
        ("is_reserved", _("reserved")),
    ):
        if getattr(ip, attr):
            return label
    return _("non-global")


def _refused_ip(ip: IPAddress) -> bool:
    # Multicast (224.0.0.0/4, ff0e::/16) counts as "global" in ipaddress; it is no destination.
    return ip.is_multicast or not ip.is_global or ip in _LOCAL_NAT64


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    """IPv4 addresses an IPv6 address carries (and reaches through a translator or relay)."""
    found = []
    if ip.ipv4_mapped:
        found.append((ip.ipv4_mapped, "IPv4-mapped"))
    if ip in _NAT64:  # RFC 6052: the last 32 bits for a /96 (the /48 is refused as a whole)
        found.append((ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"))
    if ip.sixtofour:
        found.append((ip.sixtofour, "6to4"))
    if ip.teredo:
        server, client = ip.teredo
        found += [(server, "Teredo server"), (client, "Teredo client")]
    return found


def refused_address(address: str) -> str | None:
    """Why a destination IP is refused (a short phrase), or None if it is globally routable.

    Refused: whatever ``ipaddress`` does not call global (loopback, private, link-local,
    shared 100.64.0.0/10, documentation, reserved, ...), multicast, and IPv6 addresses that
    carry a refused IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo), which a translator or
    relay would forward to it.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        for v4, how in embedded:
            if _refused_ip(v4):
                # Translators: how: IPv4-mapped, NAT64, 6to4, Teredo; kind: loopback, private, ...
                return _("%(how)s, carrying the %(kind)s IPv4 address %(address)s") % {
                    "how": how,
                    "kind": _kind(v4),
                    "address": v4,
                }
        if ip.ipv4_mapped:  # ::ffff:a.b.c.d is a.b.c.d: nothing more to check
            return None
    return _kind(ip) if _refused_ip(ip) else None
