"""In Chromium, as an admin: create an API key and see it once (copy button, gone on reload);
create a webhook (its secret once), see the delivery log after an event, redeliver."""

import pytest
from standardwebhooks.webhooks import Webhook

from handover import rules
from handover.models import Delivery
from leadflow.apikeys import api_key_lookup
from leadflow.models import ApiKey
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.services import lead_mark_mql
from tests.handover.receiver import webhook_receiver
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_creates_a_key_and_a_webhook_then_redelivers(page, login, settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on this machine
    UserFactory(username="ada", role=Role.ADMIN)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login("ada")

    # --- an API key, shown once ---
    page.goto("/settings/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys").click()
    page.get_by_role("link", name="New API key").click()
    page.get_by_role("button", name="Create key").click()  # empty: every error names its field
    alert = page.get_by_role("alert").first.inner_text()
    assert "Name: This field is required." in page.content()
    assert "Scopes: Choose at least one scope." in page.content()
    assert "fix the fields" in alert
    page.get_by_label("Name").fill("crm-sync")
    page.get_by_label("leads:read — Read leads").check()
    page.get_by_label("events:write — Send events").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#api-key-secret").input_value()
    assert api_key_lookup(secret).name == "crm-sync"
    # every label the button shows is recorded: "Copied" stays 2 s, which a busy CI box's
    # polling missed; and the page is brought to the front, as the Clipboard API needs focus
    page.evaluate(
        """() => { window.copyLabels = []; const b = document.querySelector("button[data-copy]");
        new MutationObserver(() => window.copyLabels.push(b.textContent))
          .observe(b, {childList: true, characterData: true, subtree: true}); }"""
    )
    page.bring_to_front()
    page.get_by_role("button", name="Copy").click()
    page.wait_for_function("() => window.copyLabels.length > 0")
    assert page.evaluate("window.copyLabels[0]") == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.reload()
    assert page.locator("#api-key-secret").count() == 0
    assert secret not in page.content()
    assert "cannot be shown again" in page.locator("#shown-no-more").inner_text()
    page.get_by_role("link", name="Back to API keys").click()
    key = ApiKey.objects.get(name="crm-sync")
    assert "crm-sync" in page.locator(f"#apikey-{key.pk}").inner_text()

    # --- a webhook: refused destination, then a real one; secret shown once ---
    with webhook_receiver(secret=rules.new_secret(), fail_first=1) as receiver:
        page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhooks").click()
        page.get_by_role("link", name="New webhook").click()
        settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("lead.mql — a lead became an MQL").check()
        page.get_by_role("button", name="Create webhook").click()
        assert "URL: 127.0.0.1 resolves to 127.0.0.1 (loopback" in page.content()
        settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
        page.get_by_role("button", name="Create webhook").click()
        signing = page.locator("#webhook-secret").input_value()
        assert signing.startswith("whsec_")
        receiver.secret, receiver.standard = signing, Webhook(signing)
        page.reload()
        assert page.locator("#webhook-secret").count() == 0

        # an event: the first attempt fails (503), the log shows it, Redeliver sends it again
        lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
        delivery = Delivery.objects.get(channel="webhook")
        page.get_by_role("link", name="Delivery log").click()
        row = page.locator(f"#delivery-{delivery.pk}")
        assert "lead.mql" in row.inner_text()
        assert "503" in row.inner_text()
        assert "Pending" in row.inner_text()
        row.get_by_role("button", name="Redeliver").click()
        page.wait_for_load_state()
        assert f"Delivery #{delivery.pk} queued again." in page.content()
        assert "Delivered" in page.locator(f"#delivery-{delivery.pk}").inner_text()
        assert sum(receiver.by_event.values()) == 1
        assert receiver.bad_signatures == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.log.count()) == ("delivered", 2)
    page.get_by_role("link", name="Webhooks").first.click()
    assert page.csp_violations == []
