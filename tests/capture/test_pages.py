"""The marketer's capture pages: build a form through the pages, refusals as 422 naming the
field, permissions (rep/manager 403, anonymous to log-in), analytics figures equal to the rows,
snippets with the public id and escaped names."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from capture import analytics
from capture.models import ConsentText, Form, FormDay, FormField, Rejection, Submission
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mclient(client, marketer):
    client.force_login(marketer)
    return client


def _new(mclient, name="Newsletter", origins="https://www.example.com") -> Form:
    response = mclient.post("/capture/new/", {"name": name, "allowed_origins": origins})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Form.objects.get(name=name)


def _settings_post(form: Form, **changes) -> dict[str, object]:
    data = {
        "name": form.name,
        "status": form.status,
        "allowed_origins": form.allowed_origins,
        "submit_label": form.submit_label,
        "thank_you_message": form.thank_you_message,
        "redirect_url": form.redirect_url,
        "activity_kind": form.activity_kind,
        "progressive_slots": form.progressive_slots,
        "min_fill_seconds": form.min_fill_seconds,
        "ip_storage": form.ip_storage,
    }
    data.update(changes)
    return data


def _summary(response):
    html = response.content.decode()
    return html.split('class="form-errors"')[1].split("</ul>")[0]


def test_marketer_builds_a_form_and_publishes_it(mclient):
    form = _new(mclient)
    fields_url = f"/capture/{form.pk}/fields/"
    r = mclient.post(fields_url, {"trait": "company", "kind": "text", "label": "Company"})
    assert r.status_code == 302

    # publishing without an email field: refused, naming the field
    r = mclient.post(f"/capture/{form.pk}/", _settings_post(form, status="live"))
    assert r.status_code == 422
    assert "Status: A live form needs an email field" in _summary(r)
    form.refresh_from_db()
    assert form.status == "draft"

    r = mclient.post(
        fields_url, {"trait": "email", "kind": "email", "label": "E-mail", "required": "on"}
    )
    assert r.status_code == 302
    r = mclient.post(
        f"/capture/{form.pk}/consents/",
        {"key": "newsletter", "text": "Send me the monthly newsletter.", "channel": "email"},
    )
    assert r.status_code == 302
    r = mclient.post(f"/capture/{form.pk}/", _settings_post(form, status="live"))
    assert r.status_code == 302
    form.refresh_from_db()
    assert form.status == "live"
    page = mclient.get(fields_url).content.decode()
    assert "<code>email</code>" in page
    assert "<code>company</code>" in page


def test_editing_a_consent_text_makes_version_2_and_keeps_version_1(mclient):
    form = _new(mclient)
    mclient.post(
        f"/capture/{form.pk}/consents/",
        {"key": "newsletter", "text": "Old words.", "channel": "email"},
    )
    v1 = ConsentText.objects.get(form=form, key="newsletter")
    r = mclient.post(
        f"/capture/{form.pk}/consents/newsletter/", {"text": "New words.", "channel": "email"}
    )
    assert r.status_code == 302
    v1.refresh_from_db()
    assert (v1.version, v1.retired, v1.text) == (1, True, "Old words.")
    v2 = ConsentText.objects.get(form=form, key="newsletter", retired=False)
    assert (v2.version, v2.text) == (2, "New words.")
    page = mclient.get(f"/capture/{form.pk}/consents/").content.decode()
    assert 'id="consent-newsletter-v1"' in page
    assert 'id="consent-newsletter-v2"' in page
    assert "Old words." in page
    assert "New words." in page


def test_a_bad_origin_line_is_refused_naming_it(mclient):
    form = _new(mclient)
    r = mclient.post(
        f"/capture/{form.pk}/",
        _settings_post(form, allowed_origins="https://ok.example\nhttps://bad.example/path"),
    )
    assert r.status_code == 422
    summary = _summary(r)
    assert "Allowed origins: Line 2" in summary
    assert "https://bad.example/path" in summary
    form.refresh_from_db()
    assert form.allowed_origins == "https://www.example.com"
    r = mclient.post("/capture/new/", {"name": "X", "allowed_origins": "example.com"})
    assert r.status_code == 422
    assert "Allowed origins: Line 1" in _summary(r)
    assert not Form.objects.filter(name="X").exists()


def test_field_errors_are_422_and_name_the_field(mclient):
    form = _new(mclient)
    r = mclient.post(
        f"/capture/{form.pk}/fields/", {"trait": "first.name", "kind": "text", "label": "x"}
    )
    assert r.status_code == 422
    assert "Trait: “first.name” is not a trait name" in _summary(r)
    r = mclient.post(
        f"/capture/{form.pk}/fields/", {"trait": "plan", "kind": "select", "label": "Plan"}
    )
    assert r.status_code == 422
    assert "Choices: A choice field needs at least one choice." in _summary(r)
    assert not FormField.objects.exists()


def test_fields_move_and_delete(mclient):
    form = _new(mclient)
    for trait in ("email", "company", "title"):
        mclient.post(
            f"/capture/{form.pk}/fields/",
            {
                "trait": trait,
                "kind": "email" if trait == "email" else "text",
                "label": trait,
                "required": "on",
            },
        )
    title = FormField.objects.get(trait="title")
    r = mclient.post(
        f"/capture/{form.pk}/fields/{title.pk}/move/", {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    assert 'id="fields"' in r.content.decode()
    assert list(form.fields.values_list("trait", flat=True)) == ["email", "title", "company"]
    r = mclient.post(f"/capture/{form.pk}/fields/{title.pk}/delete/")
    assert r.status_code == 302
    assert list(form.fields.values_list("trait", flat=True)) == ["email", "company"]
    # the live form's email field cannot go
    mclient.post(f"/capture/{form.pk}/", _settings_post(form, status="live"))
    email = FormField.objects.get(trait="email")
    r = mclient.post(f"/capture/{form.pk}/fields/{email.pk}/delete/")
    assert r.status_code == 422
    assert "A live form keeps its email field" in r.content.decode()
    assert FormField.objects.filter(pk=email.pk).exists()


def test_unknown_ids_are_404(mclient):
    form = _new(mclient)
    other = _new(mclient, name="Other")
    field = FormField.objects.create(form=other, trait="email", kind="email", label="E")
    assert mclient.get("/capture/999999/").status_code == 404
    assert mclient.get(f"/capture/{form.pk}/fields/{field.pk}/").status_code == 404
    assert mclient.post(f"/capture/{form.pk}/fields/{field.pk}/delete/").status_code == 404
    assert mclient.get(f"/capture/{form.pk}/consents/nope/").status_code == 404
    assert mclient.get("/capture/abc/").status_code == 404


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_reps_and_managers_get_403(client, who, request):
    client.force_login(request.getfixturevalue(who))
    form = Form.objects.create(name="F")
    for url in ("/capture/", f"/capture/{form.pk}/", f"/capture/{form.pk}/analytics/"):
        assert client.get(url).status_code == 403
    assert client.post("/capture/new/", {"name": "X"}).status_code == 403
    assert (
        client.post(f"/capture/{form.pk}/fields/", {"trait": "a", "label": "a"}).status_code == 403
    )
    assert not Form.objects.filter(name="X").exists()
    assert "/capture/" not in client.get("/").content.decode()  # no "Forms" in the nav


def test_anonymous_goes_to_log_in(client):
    r = client.get("/capture/")
    assert r.status_code == 302
    assert r.url.startswith("/accounts/login/")


def test_posts_need_csrf(marketer):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(marketer)
    assert csrf_client.post("/capture/new/", {"name": "X"}).status_code == 403
    assert not Form.objects.exists()


def test_nav_has_forms_for_marketers(mclient):
    assert 'href="/capture/"' in mclient.get("/capture/").content.decode()


def test_analytics_figures_match_the_rows(mclient):
    form = _new(mclient)
    other = _new(mclient, name="Other")
    today = analytics.site_today()
    FormDay.objects.create(form=form, day=today, views=40, starts=10)
    FormDay.objects.create(form=form, day=today - timedelta(days=1), views=10, starts=2)
    FormDay.objects.create(form=form, day=today - timedelta(days=40), views=999)  # out of range
    FormDay.objects.create(form=other, day=today, views=7)
    known = LeadFactory()
    for _n in range(3):
        Submission.objects.create(
            form=form, lead=LeadFactory(), status="accepted", created_lead=True, source="google"
        )
    Submission.objects.create(
        form=form, lead=known, status="accepted", created_lead=False, source="newsletter"
    )
    Submission.objects.create(form=form, lead=None, status="pending", source="google")
    yesterday = Submission.objects.create(form=form, lead=known, status="accepted", source="google")
    Submission.objects.filter(pk=yesterday.pk).update(created_at=timezone.now() - timedelta(days=1))
    Submission.objects.create(form=other, lead=known, status="accepted", created_lead=True)
    Rejection.objects.create(form=form, reason="honeypot")
    Rejection.objects.create(form=form, reason="too_fast")
    Rejection.objects.create(form=form, reason="invalid")  # not spam
    Rejection.objects.create(form=other, reason="honeypot")

    stats = analytics.form_analytics(form=form)
    t = stats.total
    assert (t.views, t.starts, t.submissions, t.created, t.updated, t.spam) == (50, 12, 6, 3, 2, 2)
    assert t.conversion == pytest.approx(6 / 50)
    day = stats.days[-1]
    assert (day.day, day.views, day.submissions, day.created, day.updated, day.spam) == (
        today,
        40,
        5,
        3,
        1,
        2,
    )
    assert stats.days[-2].submissions == 1
    assert stats.days[-2].views == 10
    by_source = {s.source: (s.submissions, s.created, s.updated) for s in stats.sources}
    assert by_source == {"google": (5, 3, 1), "newsletter": (1, 0, 1)}

    page = mclient.get(f"/capture/{form.pk}/analytics/").content.decode()
    assert 'id="total-views">50<' in page
    assert 'id="total-submissions">6<' in page
    assert 'id="total-conversion">12.0 %<' in page
    assert 'id="total-spam">2<' in page
    assert 'id="total-created">3<' in page
    assert 'id="total-updated">2<' in page

    listing = mclient.get("/capture/").content.decode()
    row = listing.split(f'id="form-{form.pk}"')[1].split("</tr>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in row.split("</td>")[:-1]]
    # name, status, views (all time: 999 older than 30 days too), submissions, conversion,
    # spam, created, updated
    assert cells[2:] == ["1049", "6", f"{6 / 1049 * 100:.1f} %", "2", "3", "2"]


def test_submissions_and_rejections_pages(mclient):
    form = _new(mclient)
    lead = LeadFactory(email="ann@example.test")
    Submission.objects.create(
        form=form,
        lead=lead,
        status="pending",
        source="google",
        proposed_changes={"company": {"old": "Acme", "new": "Globex"}},
    )
    Rejection.objects.create(
        form=form,
        reason="honeypot",
        ip="203.0.113.9",
        origin="https://evil.example",
        excerpt="<script>alert(1)</script>",
    )
    Rejection.objects.create(form=form, reason="too_fast", detail="1.2 s")
    page = mclient.get(f"/capture/{form.pk}/submissions/").content.decode()
    assert f'href="/leads/{lead.pk}/"' in page
    assert "Acme → Globex" in page
    assert "Waiting for the confirmation click" in page
    page = mclient.get(f"/capture/{form.pk}/rejections/?reason=honeypot").content.decode()
    assert "203.0.113.9" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "1.2 s" not in page  # filtered out
    r = mclient.get(f"/capture/{form.pk}/rejections/?reason=bogus")
    assert r.status_code == 400
    assert "Reason:" in r.content.decode()


def test_embed_snippets_carry_the_public_id_and_escape_names(mclient):
    evil = '"><script>alert(1)</script>'
    form = _new(mclient, name=evil)
    FormField.objects.create(form=form, trait="email", kind="email", label=evil, required=True)
    ConsentText.objects.create(form=form, key="newsletter", version=3, text="News <b>ok</b>")
    r = mclient.get(f"/capture/{form.pk}/embed/")
    html = r.content.decode()
    assert r.status_code == 200
    assert form.public_id in html
    assert "<script>alert(1)" not in html
    assert f"http://testserver/f/{form.public_id}/submit" in html
    assert f"http://testserver/f/{form.public_id}/frame" in html
    assert "http://testserver/f/embed.js" in html
    assert "consent.newsletter" in html
    assert "value=&quot;3&quot;" in html
    assert "lf_website" in html
    # the snippet itself (as pasted) escapes the name once: shown escaped twice here
    assert "&amp;lt;script&amp;gt;" in html


def test_an_empty_post_is_422_naming_the_field(mclient):
    r = mclient.post("/capture/new/")
    assert r.status_code == 422
    assert "Name: This field is required." in _summary(r)
    form = _new(mclient)
    r = mclient.post(f"/capture/{form.pk}/")
    assert r.status_code == 422
    assert "Name: This field is required." in _summary(r)
