"""Settings › Webhooks: subscriptions (SSRF guard, secret shown once, rotate, disable), the
delivery log and redelivery (one enqueue, double-click safe); permissions, CSRF, field errors."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from handover.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookSubscription
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.services import lead_mark_mql
from tests.handover.receiver import webhook_receiver
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW = "/settings/webhooks/new/"  # (a literal: collection must not need the URL to exist)


def _secret_on(html: str) -> str | None:
    marker = 'id="webhook-secret" class="secret-value" type="text" value="'
    return html.split(marker)[1].split('"')[0] if marker in html else None


def _delivery(sub, status="dead", attempts=3, error="HTTP 500", minutes_ago=0):
    now = timezone.now() - timedelta(minutes=minutes_ago)
    event = WebhookEvent.objects.create(type="lead.mql", payload={"id": "x"}, created_at=now)
    delivery = Delivery.objects.create(
        channel="webhook",
        status=status,
        event=event,
        subscription=sub,
        attempts=attempts,
        max_attempts=10,
        next_attempt_at=now,
        last_error=error,
        created_at=now,
    )
    for n in range(1, attempts + 1):
        DeliveryAttempt.objects.create(
            delivery=delivery, number=n, started_at=now, ok=False, status_code=500, error=error
        )
    return delivery


def test_create_validates_the_url_with_the_ssrf_guard(admin_client, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False
    response = admin_client.post(
        NEW, {"url": "http://127.0.0.1:9/hook", "event_types": ["lead.mql"], "active": "on"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    summary = html.split('class="form-errors"')[1].split("</ul>")[0]
    assert "URL: 127.0.0.1 resolves to 127.0.0.1 (loopback" in summary
    assert "webhooks go to public addresses only" in summary
    assert not WebhookSubscription.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"event_types": ["lead.mql"]}, "URL", "This field is required."),
        (
            {"url": "ftp://example.com/x", "event_types": ["lead.mql"]},
            "URL",
            "is not an http(s) URL",
        ),
        ({"url": "https://example.com/x"}, "Events", "Choose at least one event."),
        (
            {"url": "https://example.com/x", "event_types": ["lead.nope"]},
            "Events",
            "not one of the available",
        ),
    ],
)
def test_bad_input_names_the_field(admin_client, data, field, message):
    response = admin_client.post(NEW, data)
    assert response.status_code == 422
    summary = response.content.decode().split('class="form-errors"')[1].split("</ul>")[0]
    assert f"{field}: " in summary
    assert message in summary
    assert not WebhookSubscription.objects.exists()


def test_create_shows_the_secret_once(admin_client, admin_user, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    response = admin_client.post(
        NEW,
        {
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["lead.mql", "sla.breached"],
            "active": "on",
        },
    )
    sub = WebhookSubscription.objects.get()
    assert response["Location"] == reverse("configure:webhooks_secret", args=[sub.pk])
    first = admin_client.get(response["Location"])
    assert "no-store" in first["Cache-Control"]
    assert _secret_on(first.content.decode()) == sub.secret
    second = admin_client.get(response["Location"]).content.decode()
    assert _secret_on(second) is None
    assert sub.secret not in second
    assert "cannot be shown again" in second
    assert (
        sub.secret
        not in admin_client.get(reverse("configure:webhooks_edit", args=[sub.pk])).content.decode()
    )
    assert sub.active
    assert sub.event_types == ["lead.mql", "sla.breached"]
    assert AuditEvent.objects.get(action="webhook.create").actor == admin_user


def test_rotate_asks_then_shows_the_new_secret_once(admin_client, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    sub = WebhookSubscription.objects.create(url="http://127.0.0.1:9/", event_types=["lead.mql"])
    old = sub.secret
    url = reverse("configure:webhooks_rotate", args=[sub.pk])
    assert admin_client.get(url).status_code == 200
    sub.refresh_from_db()
    assert sub.secret == old  # the GET only asks
    response = admin_client.post(url)
    sub.refresh_from_db()
    assert sub.secret != old
    assert sub.secret.startswith("whsec_")
    assert _secret_on(admin_client.get(response["Location"]).content.decode()) == sub.secret
    assert _secret_on(admin_client.get(response["Location"]).content.decode()) is None
    assert AuditEvent.objects.filter(action="webhook.rotate_secret").count() == 1


def test_edit_and_disable(admin_client, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False
    sub = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    edit = reverse("configure:webhooks_edit", args=[sub.pk])
    # refused by the SSRF guard on edit too; nothing changes
    refused = admin_client.post(
        edit, {"url": "http://10.0.0.5/x", "event_types": ["lead.mql"], "active": "on"}
    )
    assert refused.status_code == 422
    assert "URL: 10.0.0.5 resolves to 10.0.0.5 (private" in refused.content.decode()
    sub.refresh_from_db()
    assert sub.url == "https://example.com/a"
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    ok = admin_client.post(
        edit, {"url": "http://10.0.0.5/x", "event_types": ["sla.warning"], "active": "on"}
    )
    assert ok.status_code == 302
    sub.refresh_from_db()
    assert (sub.url, sub.event_types, sub.active) == ("http://10.0.0.5/x", ["sla.warning"], True)
    admin_client.post(reverse("configure:webhooks_active", args=[sub.pk]), {"active": "0"})
    sub.refresh_from_db()
    assert not sub.active
    assert AuditEvent.objects.filter(action="webhook.disable").count() == 1
    assert "Disabled" in admin_client.get(reverse("configure:webhooks")).content.decode()


def test_list_shows_last_status_and_failure_count(admin_client):
    sub = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    _delivery(sub, status="dead", minutes_ago=10)
    _delivery(sub, status="pending", attempts=2, minutes_ago=5)
    _delivery(sub, status="delivered", attempts=1, error="", minutes_ago=1)
    html = admin_client.get(reverse("configure:webhooks")).content.decode()
    row = html.split(f'id="webhook-{sub.pk}"')[1].split("</tr>")[0]
    assert "https://example.com/a" in row
    assert "lead.mql" in row
    assert ">delivered<" in row  # the newest delivery's status
    assert 'deliveries/?failed=1">2</a>' in row


def test_delivery_log_newest_first_paginated_and_filtered(admin_client):
    sub = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    ok = [_delivery(sub, status="delivered", attempts=1, error="") for _ in range(25)]
    dead = _delivery(sub, status="dead", attempts=10, error="HTTP 503")
    url = reverse("configure:webhooks_deliveries", args=[sub.pk])
    html = admin_client.get(url).content.decode()
    assert html.index(f'id="delivery-{dead.pk}"') < html.index(f'id="delivery-{ok[-1].pk}"')
    assert f'id="delivery-{ok[0].pk}"' not in html  # on page 2
    assert "Page 1 of 2" in html
    assert f'id="delivery-{ok[0].pk}"' in admin_client.get(url + "?page=2").content.decode()
    failed = admin_client.get(url + "?failed=1").content.decode()
    assert f'id="delivery-{dead.pk}"' in failed
    assert f'id="delivery-{ok[-1].pk}"' not in failed
    row = failed.split(f'id="delivery-{dead.pk}"')[1].split("</tr>")[0]
    for text in ("lead.mql", "Gave up", "10 / 10", "503", "HTTP 503"):
        assert text in row


def test_redeliver_enqueues_once_and_a_second_click_does_nothing(
    admin_client, admin_user, settings, django_capture_on_commit_callbacks
):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    sub = WebhookSubscription.objects.create(url="http://127.0.0.1:9/", event_types=["lead.mql"])
    with webhook_receiver(secret=sub.secret, fail_first=100) as receiver:
        WebhookSubscription.objects.filter(pk=sub.pk).update(url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
        delivery = Delivery.objects.get(subscription=sub)
        assert delivery.attempts == 1  # failed (503), waiting for its retry
        log = admin_client.get(
            reverse("configure:webhooks_deliveries", args=[sub.pk])
        ).content.decode()
        state = log.split('name="state" value="')[1].split('"')[0]
        receiver.fail_first = 0  # the receiver is fixed
        url = reverse("configure:webhooks_redeliver", args=[sub.pk, delivery.pk])
        with django_capture_on_commit_callbacks(execute=True) as first:
            response = admin_client.post(url, {"state": state})
        with django_capture_on_commit_callbacks(execute=True) as second:
            again = admin_client.post(url, {"state": state})  # the same form, clicked twice
    assert response.status_code == again.status_code == 302
    assert len(first) == 1  # exactly one enqueue
    assert len(second) == 0
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.log.count() == 2
    assert Delivery.objects.filter(subscription=sub).count() == 1
    assert sum(receiver.by_event.values()) == 1
    audit = AuditEvent.objects.get(action="webhook.redeliver")
    assert (audit.actor, audit.target_id) == (admin_user, str(delivery.pk))
    page = admin_client.get(response["Location"]).content.decode()
    assert "changed since the page was shown" in page  # the second click's message


def test_redeliver_of_another_subscriptions_delivery_is_404(admin_client):
    mine = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    other = WebhookSubscription.objects.create(
        url="https://example.com/b", event_types=["lead.mql"]
    )
    delivery = _delivery(other)
    url = reverse("configure:webhooks_redeliver", args=[mine.pk, delivery.pk])
    assert admin_client.post(url, {"state": "dead:3:10"}).status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == "dead"


def test_bad_ids_are_404(admin_client):
    for name in ("webhooks_edit", "webhooks_rotate", "webhooks_secret", "webhooks_deliveries"):
        assert admin_client.get(reverse(f"configure:{name}", args=[424242])).status_code == 404, (
            name
        )
    assert (
        admin_client.post(
            reverse("configure:webhooks_active", args=[424242]), {"active": "0"}
        ).status_code
        == 404
    )
    assert (
        admin_client.post(reverse("configure:webhooks_redeliver", args=[424242, 1])).status_code
        == 404
    )


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER])
def test_other_roles_get_403(client, role):
    sub = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    delivery = _delivery(sub)
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    urls = [reverse("configure:webhooks"), NEW]
    urls += [
        reverse(f"configure:{n}", args=[sub.pk])
        for n in (
            "webhooks_edit",
            "webhooks_rotate",
            "webhooks_secret",
            "webhooks_deliveries",
            "webhooks_active",
        )
    ]
    urls.append(reverse("configure:webhooks_redeliver", args=[sub.pk, delivery.pk]))
    old = sub.secret
    for url in urls:
        assert client.post(url, {"active": "0", "state": "dead:3:10"}).status_code == 403, url
        if "redeliver" not in url and "active" not in url:
            assert client.get(url).status_code == 403, url
    sub.refresh_from_db()
    delivery.refresh_from_db()
    assert (sub.secret, sub.active, delivery.status) == (old, True, "dead")


def test_csrf_is_required(admin_user):
    sub = WebhookSubscription.objects.create(url="https://example.com/a", event_types=["lead.mql"])
    delivery = _delivery(sub)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for url in (
        reverse("configure:webhooks_rotate", args=[sub.pk]),
        reverse("configure:webhooks_active", args=[sub.pk]),
        reverse("configure:webhooks_redeliver", args=[sub.pk, delivery.pk]),
    ):
        assert client.post(url, {"active": "0", "state": "dead:3:10"}).status_code == 403, url
    old = sub.secret
    sub.refresh_from_db()
    delivery.refresh_from_db()
    assert (sub.secret, sub.active, delivery.status) == (old, True, "dead")
