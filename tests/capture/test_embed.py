"""GET /f/embed.js and /f/<id>/config: what the script embed loads, and who may load it."""

import json

import pytest
from django.test import Client

from capture import challenge
from capture.models import FieldKind, Form, FormField
from tests.capture.embed_helpers import HOST, make_form

pytestmark = pytest.mark.django_db


def config(client: Client, form: Form, origin: str | None = HOST, **headers):
    if origin:
        headers["HTTP_ORIGIN"] = origin
    return client.get(f"/f/{form.public_id}/config", **headers)


def test_config_for_an_allowed_origin_echoes_it_and_lists_fields_consents_and_challenge(client):
    form = make_form(submit_label="Sign me up")
    response = config(client, form)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == HOST
    assert "Origin" in response["Vary"]
    assert response["Cache-Control"] == "no-store"
    data = response.json()
    assert data["form"] == {
        "id": form.public_id,
        "name": "Newsletter",
        "submit_label": "Sign me up",
        "thank_you_message": "",
        "redirect_url": "",
    }
    assert [f["name"] for f in data["fields"]] == ["email", "firstName", "utm_source"]
    email = data["fields"][0]
    assert email == {
        "name": "email",
        "kind": "email",
        "label": "E-mail",
        "help_text": "",
        "required": True,
        "choices": [],
        "hidden_source": "",
        "fixed_value": "",
    }
    assert data["fields"][2]["hidden_source"] == "utm_source"
    # only the current version of each consent text, raw (the script sets it as text)
    assert data["consents"] == [
        {
            "key": "newsletter",
            "version": 2,
            "text": "Send me the <b>newsletter</b> & offers",
            "required": False,
        }
    ]
    assert data["honeypot"] == "lf_website"
    assert data["challenge"]["difficulty"] == challenge.difficulty()
    assert data["texts"]["required"] == "This field is required."
    assert data["assets"]["stylesheet"].endswith(".css")


def test_an_origin_trailing_slash_in_the_list_still_matches(client):
    form = make_form(origins=f"{HOST}/\nhttps://shop.example.com")
    assert config(client, form, "https://shop.example.com")["Access-Control-Allow-Origin"] == (
        "https://shop.example.com"
    )
    assert config(client, form)["Access-Control-Allow-Origin"] == HOST


def test_origins_compare_without_case(client):
    form = make_form(origins="https://WWW.Example.com")
    assert config(client, form)["Access-Control-Allow-Origin"] == HOST


def test_a_refused_origin_gets_403_json_without_any_cors_header(client):
    form = make_form()
    response = config(client, form, "https://evil.example.net")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert response.json()["code"] == "origin_not_allowed"
    # a look-alike (other scheme, other port) is another origin
    assert config(client, form, "http://www.example.com").status_code == 403
    assert config(client, form, "https://www.example.com:8443").status_code == 403


def test_same_origin_and_server_calls_need_no_cors_header(client):
    form = make_form()
    for origin in (None, "http://testserver"):
        response = config(client, form, origin)
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response


def test_preflight_for_allowed_and_refused_origins(client):
    form = make_form()
    ok = client.options(
        f"/f/{form.public_id}/config",
        HTTP_ORIGIN=HOST,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == HOST
    refused = client.options(f"/f/{form.public_id}/config", HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


@pytest.mark.parametrize("status", [Form.Status.DRAFT, Form.Status.ARCHIVED])
def test_a_form_that_is_not_live_is_a_json_404(client, status):
    form = make_form(status=status)
    response = config(client, form)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response["Content-Type"] == "application/json"


def test_an_unknown_form_is_a_json_404(client):
    response = client.get("/f/nope/config", HTTP_ORIGIN=HOST)
    assert response.status_code == 404
    assert response.json()["ok"] is False


def test_progressive_fields_beyond_the_slots_are_left_out(client):
    form = make_form(progressive_slots=1)
    for position, trait in ((10, "company"), (11, "jobTitle"), (12, "phone")):
        FormField.objects.create(
            form=form,
            position=position,
            trait=trait,
            kind=FieldKind.TEXT,
            label=trait,
            progressive=True,
        )
    names = [f["name"] for f in config(client, form).json()["fields"]]
    assert names == ["email", "firstName", "utm_source", "company"]
    form.progressive_slots = 0
    form.save()
    names = [f["name"] for f in config(client, form).json()["fields"]]
    assert names == ["email", "firstName", "utm_source", "company", "jobTitle", "phone"]  # off


def test_the_challenge_given_verifies_once_solved(client):
    form = make_form(min_fill_seconds=0)
    given = config(client, form).json()["challenge"]
    proof = challenge.solve(given["token"], given["difficulty"])
    verdict = challenge.verify(form.public_id, given["token"], proof, min_fill_seconds=0)
    assert verdict.ok, verdict
    # and it is this form's: another form refuses it
    other = make_form()
    assert not challenge.verify(other.public_id, given["token"], proof, min_fill_seconds=0).ok
    # each showing gets a fresh token
    assert config(client, form).json()["challenge"]["token"] != given["token"]


def test_texts_follow_the_visitors_language(client):
    form = make_form()
    german = config(client, form, HTTP_ACCEPT_LANGUAGE="de").json()
    english = config(client, form, HTTP_ACCEPT_LANGUAGE="en").json()
    assert set(german["texts"]) == set(english["texts"])
    assert german["texts"]["required"] == "Bitte füllen Sie dieses Feld aus."
    assert [k for k in english["texts"] if german["texts"][k] == english["texts"][k]] == []
    assert english["texts"]["required"] == "This field is required."
    response = config(client, form, HTTP_ACCEPT_LANGUAGE="de")
    assert "Accept-Language" in response["Vary"]


def test_embed_js_is_served_with_cors_a_cache_header_and_an_etag(client):
    response = client.get("/f/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "max-age=" in response["Cache-Control"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"data-form" in body
    assert b"eval(" not in body
    again = client.get("/f/embed.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_config_json_is_valid_for_a_form_with_choices(client):
    form = make_form()
    FormField.objects.create(
        form=form,
        position=5,
        trait="size",
        kind=FieldKind.SELECT,
        label="Size",
        choices="1-10\n11-50\n\n51+",
    )
    data = json.loads(config(client, form).content)
    assert data["fields"][-1]["choices"] == ["1-10", "11-50", "51+"]
