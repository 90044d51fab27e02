"""GET /f/<id>/frame: the iframe page, framable by the form's allowed origins only."""

import pytest

from capture.models import Form
from tests.capture.embed_helpers import HOST, make_form

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = [p.strip().split() for p in policy.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def test_frame_ancestors_are_the_forms_origins_and_x_frame_options_is_off(client):
    form = make_form(origins=f"{HOST}\nhttps://shop.example.com")
    response = client.get(f"/f/{form.public_id}/frame")
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    csp = directives(response)
    assert sorted(csp["frame-ancestors"]) == sorted(["'self'", HOST, "https://shop.example.com"])
    # the rest of the site's policy stays: no inline script, scripts from LeadFlow only
    assert csp["script-src"] == ["'self'"]
    assert response["Cache-Control"] == "no-store"


def test_other_pages_keep_deny(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert directives(response)["frame-ancestors"] == ["'none'"]


def test_the_frame_renders_the_form_with_django_and_no_inline_script(client):
    form = make_form()
    html = client.get(f"/f/{form.public_id}/frame?utm_source=spring-mail").content.decode()
    assert f'action="/f/{form.public_id}/submit"' in html
    assert 'type="email" name="email"' in html
    assert "required" in html
    assert 'name="utm_source" value="spring-mail"' in html  # from the iframe's own URL
    assert 'name="consent.newsletter"' in html
    assert 'value="2"' in html
    # the marketer's text is escaped, never markup
    assert "Send me the &lt;b&gt;newsletter&lt;/b&gt; &amp; offers" in html
    assert 'name="lf_token" value="' in html
    # a consent box comes before its text, as a checkbox field does
    assert html.index('name="consent.newsletter"') < html.index("Send me the &lt;b&gt;")
    assert 'aria-hidden="true"><label' in html  # the honeypot
    assert 'tabindex="-1"' in html
    assert 'aria-describedby="id_firstName_helptext"' in html
    assert "<script>" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert "/static/capture/frame.js" in html


def test_a_redirecting_form_may_be_posted_there(client):
    form = make_form(redirect_url="https://www.example.com/thanks")
    csp = directives(client.get(f"/f/{form.public_id}/frame"))
    assert csp["form-action"] == ["'self'", "https://www.example.com"]


@pytest.mark.parametrize("status", [Form.Status.DRAFT, Form.Status.ARCHIVED])
def test_a_form_not_live_shows_a_404_page_in_the_frame(client, status):
    form = make_form(status=status)
    response = client.get(f"/f/{form.public_id}/frame")
    assert response.status_code == 404
    assert "This form is not available." in response.content.decode()
    assert "X-Frame-Options" not in response
    assert HOST in directives(response)["frame-ancestors"]


def test_an_unknown_form_frame_is_404_and_framable_by_nobody_else(client):
    response = client.get("/f/nope/frame")
    assert response.status_code == 404
    assert directives(response)["frame-ancestors"] == ["'self'"]


def test_the_frame_page_shows_submit_errors_next_to_each_field(rf):
    """What capture-core's form-encoded submit renders on a 400: the answers kept, the messages
    next to their fields (aria-invalid, aria-describedby), the same framing headers."""
    from capture.embed_views import frame_response

    form = make_form()
    request = rf.post(f"/f/{form.public_id}/submit")
    data = {
        "email": "not-an-email",
        "firstName": "Ada <script>",
        "consent.newsletter": "2",
        "lf_page": "https://www.example.com/landing",
        "lf_token": "the-token-shown-first",
    }
    response = frame_response(
        request,
        form,
        data=data,
        errors={"firstName": ["Too long."], "lf_token": ["Please reload the page."]},
        status=400,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Ada &lt;script&gt;"' in html
    assert "Enter a valid email address." in html  # Django's own check of the e-mail field
    assert '<p class="lf-error" id="id_firstName_error">Too long.</p>' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_firstName_helptext id_firstName_error"' in html
    assert "Please reload the page." in html  # not a field: above the form
    assert 'name="lf_page" value="https://www.example.com/landing"' in html
    assert 'id="id_consent.newsletter" checked>' in html  # the box stays ticked
    # the first token stays (its age is the fill time); a fresh one only when asked
    assert 'name="lf_token" value="the-token-shown-first"' in html
    again = frame_response(request, form, data=data, status=400, fresh_challenge=True)
    assert "the-token-shown-first" not in again.content.decode()
