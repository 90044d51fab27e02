"""The lockout page in a real Chromium: a person who mistyped five times sees why and until when."""

import pytest
from playwright.sync_api import expect

from tests.leads.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_fifth_wrong_password_shows_the_lockout_page(page, login):
    UserFactory(username="ada")
    for _ in range(4):
        login("ada", "wrong")
        expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/accounts/login/")
    ) as answer:
        login("ada", "wrong")
    assert answer.value.status == 429
    assert 14 * 60 < int(answer.value.headers["retry-after"]) <= 15 * 60
    expect(page.get_by_role("heading", name="Log-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("for the user name ada")
    expect(page.get_by_text("Try again in 15 minutes")).to_be_visible()
    # the page uses the site's stylesheet and breaks no Content-Security-Policy rule
    assert page.locator("link[rel=stylesheet]").count() == 1
    assert page.csp_violations == []
    login("ada", "pw")  # the right password, still refused
    expect(page.get_by_role("heading", name="Log-in paused")).to_be_visible()
