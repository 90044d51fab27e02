"""Spam and abuse defence: every refusal is a Rejection row, never a lead."""

import time

import pytest

from capture import spam
from capture.models import Rejection, Submission
from leads.models import Lead
from tests.capture.factories import make_form, solved_challenge

pytestmark = pytest.mark.django_db


def _refused(reply, status, reason, code="spam"):
    assert reply.status_code == status, reply.content
    if code:
        assert reply.json()["code"] == code
    assert not Lead.objects.exists()
    assert not Submission.objects.exists()
    rejection = Rejection.objects.get()
    assert rejection.reason == reason
    return rejection


def test_honeypot_filled_is_refused_and_logged(visitor):
    form = make_form()
    reply = visitor.submit(
        form,
        {"email": "bot@example.com", "lf_website": "http://spam.example", **solved_challenge(form)},
        REMOTE_ADDR="192.0.2.9",
    )
    rejection = _refused(reply, 403, "honeypot")
    assert reply.json()["message"] == (
        "Your submission could not be accepted. Please try again later."
    )
    assert rejection.ip == "192.0.2.0"  # truncated, as the form keeps consent records' addresses
    assert rejection.origin == "https://shop.example"
    assert "bot@example.com" in rejection.excerpt
    assert rejection.form == form


def test_honeypot_applies_to_plain_html_posts_too(visitor):
    form = make_form()
    reply = visitor.submit(form, {"email": "bot@example.com", "lf_website": "x"}, as_json=False)
    assert reply.status_code == 403
    assert Rejection.objects.get().reason == "honeypot"
    assert not Lead.objects.exists()


def test_sent_faster_than_the_minimum_fill_time_is_refused(visitor):
    form = make_form(min_fill_seconds=5)
    data = {"email": "quick@example.com", **solved_challenge(form, now=time.time() - 1)}
    rejection = _refused(visitor.submit(form, data), 403, "too_fast")
    assert rejection.detail.startswith("too_fast")
    slow = {"email": "slow@example.com", **solved_challenge(form, now=time.time() - 6)}
    assert visitor.submit(form, slow).status_code == 200


@pytest.mark.parametrize(
    "challenge",
    [
        {},  # a script embed must answer the challenge
        {"lf_token": "forged:token", "lf_proof": "1"},
        "wrong_proof",
        "other_form",
    ],
)
def test_missing_or_wrong_challenge_is_refused(visitor, challenge):
    form = make_form()
    if challenge == "wrong_proof":
        challenge = {**solved_challenge(form), "lf_proof": "x"}
    elif challenge == "other_form":
        challenge = solved_challenge(make_form(name="Other"))
    reply = visitor.submit(form, {"email": "j@example.com", **challenge})
    _refused(reply, 403, "challenge")


def test_a_token_is_good_for_one_submission(visitor):
    form = make_form()
    token = solved_challenge(form)
    assert visitor.submit(form, {"email": "k@example.com", **token}).status_code == 200
    replay = visitor.submit(form, {"email": "other@example.com", **token})
    assert replay.status_code == 403
    assert Rejection.objects.get().detail == "replayed token"
    assert not Lead.objects.filter(email="other@example.com").exists()


def test_a_token_refused_for_bad_answers_can_be_sent_again_corrected(visitor):
    form = make_form()
    token = solved_challenge(form)
    assert visitor.submit(form, {"email": "bad", **token}).status_code == 400
    assert visitor.submit(form, {"email": "good@example.com", **token}).status_code == 200


def test_over_the_ip_rate_limit_is_429_and_logged_once_per_window(visitor, settings):
    settings.LEADFLOW_CAPTURE_IP_RATE_LIMIT = 3
    form = make_form()
    codes = [
        visitor.submit(form, {"email": f"r{i}@example.com", **solved_challenge(form)}).status_code
        for i in range(6)
    ]
    assert codes == [200, 200, 200, 429, 429, 429]
    reply = visitor.submit(form, {"email": "r9@example.com", **solved_challenge(form)})
    assert int(reply["Retry-After"]) > 0
    assert reply.json()["code"] == "rate_limited"
    assert Lead.objects.count() == 3
    assert list(Rejection.objects.values_list("reason", flat=True)) == ["rate_limited"]
    other_ip = visitor.submit(
        form, {"email": "z@example.com", **solved_challenge(form)}, REMOTE_ADDR="192.0.2.50"
    )
    assert other_ip.status_code == 200


def test_over_the_form_rate_limit_is_429(visitor, settings):
    settings.LEADFLOW_CAPTURE_FORM_RATE_LIMIT = 2
    form = make_form()
    codes = [
        visitor.submit(
            form,
            {"email": f"s{i}@example.com", **solved_challenge(form)},
            REMOTE_ADDR=f"192.0.2.{i + 1}",
        ).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", ""])
def test_origin_not_allowed_is_403(visitor, origin):
    form = make_form()
    reply = visitor.submit(
        form, {"email": "o@example.com", **solved_challenge(form)}, origin=origin
    )
    rejection = _refused(reply, 403, "origin", code="origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in reply
    assert rejection.origin == ("https://evil.example" if origin.startswith("https") else "")


def test_referer_stands_in_for_a_missing_origin(visitor):
    form = make_form()
    reply = visitor.submit(
        form,
        {"email": "p@example.com", **solved_challenge(form)},
        origin="",
        headers={"Referer": "https://shop.example/contact?x=1"},
    )
    assert reply.status_code == 200


def test_leadflows_own_origin_is_allowed_for_the_iframe(visitor):
    form = make_form(origins=["https://elsewhere.example"])
    reply = visitor.submit(
        form, {"email": "q@example.com", **solved_challenge(form)}, origin="http://testserver"
    )
    assert reply.status_code == 200


def test_oversized_body_is_413(visitor):
    form = make_form()
    reply = visitor.submit(form, {"email": "t@example.com", "firstName": "x" * 20_000})
    rejection = _refused(reply, 413, "too_large", code="too_large")
    assert len(rejection.excerpt) == 0  # not read: refused by its Content-Length


def test_unknown_form_is_404_and_logged_with_the_id_sent(visitor):
    reply = visitor.post(
        "/f/no-such-form/submit", {"email": "u@example.com"}, content_type="application/json"
    )
    assert reply.status_code == 404
    rejection = Rejection.objects.get()
    assert (rejection.form, rejection.form_ref, rejection.reason) == (
        None,
        "no-such-form",
        "unknown_form",
    )


def test_malformed_json_is_400(visitor):
    form = make_form()
    reply = visitor.post(
        f"/f/{form.public_id}/submit",
        b"{not json",
        content_type="application/json",
        headers={"Origin": "https://shop.example"},
    )
    _refused(reply, 400, "invalid", code="invalid")


def test_preflight_answers_allowed_origins_only(visitor):
    form = make_form()
    ok = visitor.options(
        f"/f/{form.public_id}/submit",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in ok["Access-Control-Allow-Methods"]
    assert ok["Access-Control-Allow-Headers"] == "Content-Type"
    denied = visitor.options(
        f"/f/{form.public_id}/submit", headers={"Origin": "https://evil.example"}
    )
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied


def test_rejection_rows_are_capped_per_ip(visitor, monkeypatch):
    monkeypatch.setattr(spam, "REJECTIONS_PER_IP_MINUTE", 5)
    form = make_form()
    for _i in range(12):
        reply = visitor.submit(form, {"email": "v@example.com", "lf_website": "x"})
        assert reply.status_code == 403  # refused whether logged or not
    assert Rejection.objects.count() == 5
    visitor.submit(form, {"email": "v@example.com", "lf_website": "x"}, REMOTE_ADDR="192.0.2.77")
    assert Rejection.objects.count() == 6
