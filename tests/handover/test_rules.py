from datetime import timedelta

import pytest

from handover import rules


def test_escalation_ladder_must_run_in_order():
    ok = rules.validate_escalation(
        [
            {"after_minutes": 0, "action": "remind_owner"},
            {"after_minutes": 60, "action": "notify_manager"},
            {"after_minutes": 120, "action": "reassign"},
        ]
    )
    assert [s["action"] for s in ok] == ["remind_owner", "notify_manager", "reassign"]
    for bad, words in [
        (
            [
                {"after_minutes": 0, "action": "reassign"},
                {"after_minutes": 5, "action": "remind_owner"},
            ],
            "must go",
        ),
        (
            [
                {"after_minutes": 60, "action": "remind_owner"},
                {"after_minutes": 5, "action": "notify_manager"},
            ],
            "never going down",
        ),
        ([{"after_minutes": -1, "action": "remind_owner"}], "≥ 0"),
        ([{"after_minutes": 1, "action": "shout"}], "one of"),
        ("remind", "list"),
    ]:
        with pytest.raises(rules.RuleError) as err:
            rules.validate_escalation(bad)
        assert words in str(err.value)
        assert err.value.field == "escalation"


def test_checklist_pass_rule_needs_minimum_and_required():
    criteria = rules.validate_criteria(
        [{"key": k} for k in ("budget", "authority", "need", "timeline")]
    )
    met = {"budget": {"met": True}, "authority": {"met": True}, "timeline": {"met": True}}
    result = rules.evaluate_checklist(criteria=criteria, min_met=3, required=["need"], answers=met)
    assert not result.passed
    assert result.missing_required == ("need",)
    met["need"] = {"met": True}
    assert rules.evaluate_checklist(
        criteria=criteria, min_met=3, required=["need"], answers=met
    ).passed
    with pytest.raises(rules.RuleError, match="Unknown criteria: money"):
        rules.validate_answers(criteria=criteria, answers={"money": {"met": True}})
    with pytest.raises(rules.RuleError, match="Unknown required"):
        rules.validate_pass_rule(criteria=criteria, min_met=2, required=["money"])
    with pytest.raises(rules.RuleError, match="appears twice"):
        rules.validate_criteria([{"key": "a"}, {"key": "a"}])


def test_retries_span_at_least_four_hours_over_eight_attempts():
    delays = [rules.retry_delay(n) for n in range(1, 8)]  # waits between attempts 1..8
    assert delays == sorted(delays)
    assert sum(delays, timedelta()) >= timedelta(hours=4)
    assert rules.MAX_ATTEMPTS >= 8
    assert rules.retry_delay(30) == rules.RETRY_CAP


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "IPv4-mapped, carrying the loopback IPv4 address 127.0.0.1"),
        ("2002:a9fe:a9fe::", "6to4, carrying the link-local IPv4 address 169.254.169.254"),
        ("100.100.100.200", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("93.184.216.34", None),
    ],
)
def test_refused_addresses(address, why):
    assert rules.refused_address(address) == why


def test_signature_round_trip_and_replay_window():
    sig = rules.sign(secret="s3cret", timestamp=1000, body=b'{"a":1}')
    assert sig.startswith("v1=")
    assert rules.verify(secret="s3cret", timestamp=1000, body=b'{"a":1}', signature=sig, now=1100)
    assert not rules.verify(
        secret="s3cret", timestamp=1000, body=b'{"a":2}', signature=sig, now=1100
    )
    assert not rules.verify(
        secret="other", timestamp=1000, body=b'{"a":1}', signature=sig, now=1100
    )
    assert not rules.verify(
        secret="s3cret", timestamp=1000, body=b'{"a":1}', signature=sig, now=5000
    )
