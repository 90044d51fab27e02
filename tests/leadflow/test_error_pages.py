"""Issue 17 item 8: styled error pages with the navigation and one sentence on why (DEBUG off)."""

import pytest
from django.conf import settings as django_settings
from django.test import Client, RequestFactory
from django.urls import reverse

from leadflow.views import server_error

NAV = 'aria-label="Main"'


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False
    assert not django_settings.DEBUG


@pytest.mark.django_db
def test_403_names_the_role_and_keeps_the_navigation(client, rep):
    client.force_login(rep)
    response = client.get(reverse("reports:index"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your role (Sales rep) may not open this page" in page
    assert NAV in page
    assert "css/leadflow.css" in page
    assert 'href="/handover/inbox/"' in page  # the rep's own navigation


@pytest.mark.django_db
def test_403_shows_the_views_own_reason(client, marketer):
    from django.core.exceptions import PermissionDenied

    from leadflow.views import permission_denied

    request = RequestFactory().get("/")
    request.user = marketer
    response = permission_denied(request, PermissionDenied("Only managers may reassign leads."))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Only managers may reassign leads. (your role: Marketer)" in page


@pytest.mark.django_db
def test_404_is_styled_and_says_what_was_missing(client, marketer):
    client.force_login(marketer)
    response = client.get(reverse("leads:detail", args=[987654]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is no such lead you can see." in page
    assert NAV in page
    unknown = client.get("/no-such-page/").content.decode()
    assert "There is no page at this address" in unknown
    assert NAV in unknown


@pytest.mark.django_db
def test_csrf_failure_page_says_nothing_was_saved(marketer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    response = client.post(reverse("leads:saved_view_create"), {"view_name": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form could not be sent" in page
    assert "nothing was saved" in page
    assert NAV in page


@pytest.mark.django_db
def test_500_needs_no_database_or_request_context(django_assert_num_queries):
    request = RequestFactory().get("/")  # no user, no session: what a broken request may be
    with django_assert_num_queries(0):
        response = server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert NAV in page
    assert "css/leadflow.css" in page


@pytest.mark.django_db
def test_500_from_a_failing_view_uses_the_styled_page(settings, marketer):
    settings.ROOT_URLCONF = "tests.leadflow.error_urls"
    client = Client(raise_request_exception=False)
    client.force_login(marketer)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
