"""Every page in every language, without English left over (issue 21).

Each role crawls its pages (the top bar's links, then one page of each URL shape they link to,
as the production smoke does) once in English and once in each other language. A visible text
(element text, ``placeholder``/``title``/``aria-label``/``alt``, button values) that is the same
in both and reads as English (it has one of ``ENGLISH`` — words no language of ours uses) is a
string that was not translated. The data is made of names that read as no language, so what
is left is the product's own text. The browser half (text the scripts write) is
tests/e2e/test_languages_browser.py.
"""

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from handover.models import Handover, Notification
from leadflow.models import User
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Note, Task, Team
from leads.services import lead_mark_mql
from tests.languages import ENGLISH, PATH, ZONE
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory

LANGUAGES = ("hu", "da", "cs", "de")
SKIP_PATHS = ("/admin/", "/api/", "/accounts/logout/", "/jsi18n/", "/static/", "/v1/")
ID = re.compile(r"/\d+(?=/|$)")


class _Page(HTMLParser):
    """Visible texts (and the attributes people read) and the links of one page."""

    # not read as the product's words: scripts, and a textarea's content (data being edited)
    HIDDEN = {"script", "style", "template", "title", "noscript", "textarea"}
    ATTRS = ("placeholder", "title", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0
        self._verbatim: list[str] = []  # open elements marked translate="no"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self.HIDDEN:
            self._hidden += 1
        elif values.get("translate") == "no":  # data shown as typed (a name, a pattern)
            self._verbatim.append(tag)
            self._hidden += 1
        if tag == "a" and values.get("href") and "download" not in values:
            self.links.append(values["href"] or "")
        for name in self.ATTRS:
            if values.get(name):
                self.texts.append(values[name] or "")
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        elif self._verbatim and self._verbatim[-1] == tag:
            self._verbatim.pop()
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(" ".join(data.split()))


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _crawl(client: Client, limit: int = 80) -> Iterator[tuple[str, str]]:
    """(path, html) of the role's pages: the top bar, then one page of each shape linked."""
    start = client.get("/", follow=True)
    seen_shapes: set[str] = set()
    queue = [urlsplit(start.request["PATH_INFO"]).path]
    queue += [
        urlsplit(link).path
        for link in _parse(start.content.decode()).links
        if link.startswith("/") and not link.startswith(SKIP_PATHS)
    ]
    while queue and len(seen_shapes) < limit:
        path = queue.pop(0)
        shape = ID.sub("/N", path)
        if shape in seen_shapes or path.startswith(SKIP_PATHS) or path.endswith(".csv"):
            continue
        seen_shapes.add(shape)
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        yield path, html
        for link in _parse(html).links:
            target = urlsplit(urljoin(path, link))
            if not target.netloc and target.path.startswith("/") and "export" not in target.path:
                queue.append(target.path)


@pytest.fixture
def world(db):
    """Names that read as no language: whatever English a page shows is the product's."""
    manager = UserFactory(
        username="mzk", first_name="Mzk", last_name="Qvo", role=Role.SALES_MANAGER
    )
    rep = UserFactory(username="rzk", first_name="Rzk", last_name="Qvo", role=Role.SALES_REP)
    marketer = UserFactory(username="kzk", role=Role.MARKETER)
    admin = UserFactory(username="azk", role=Role.ADMIN)
    team = Team.objects.create(name="Zqx", manager=manager)
    team.members.add(rep)
    leads = []
    for i, stage in enumerate([Stage.SUSPECT, Stage.LEAD, Stage.LEAD, Stage.SQL, Stage.NURTURE]):
        lead = LeadFactory(
            stage=stage,
            first_name=f"Xq{i}",
            last_name="Vzk",
            company="Qzv Kft",
            email=f"xq{i}@qzv.example",
            owner=rep,
            team=team,
            source="xqz",
            industry="Qzv",
        )
        ActivityFactory(lead=lead, kind="page_view", name="Zq")
        leads.append(lead)
    lead_mark_mql(lead_id=leads[2].pk, actor=None, source="scoring")
    assert Handover.objects.filter(lead=leads[2]).exists()
    Task.objects.create(
        lead=leads[1], assignee=rep, title="Zqv", created_by=rep, created_at=timezone.now()
    )
    Note.objects.create(lead=leads[1], author=rep, body="Zqv", created_at=timezone.now())
    return {"manager": manager, "rep": rep, "marketer": marketer, "admin": admin}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["rep", "manager", "marketer", "admin"])
def test_every_page_of_each_role_is_translated_in_every_language(world, role):
    user: User = world[role]
    leftovers: dict[str, set[str]] = {}
    english = Client()
    english.force_login(user)
    pages = dict(_crawl(english))
    assert len(pages) >= 3, pages.keys()
    # notifications are written once, in the language their recipient had then (docs/i18n.md)
    stored = {
        text
        for n in Notification.objects.all()
        for text in (n.title, n.body, " ".join(n.body.split()))
    }
    for language in LANGUAGES:
        User.objects.filter(pk=user.pk).update(language=language)
        other = Client()
        other.force_login(user)
        for path, html in pages.items():
            response = other.get(path)
            assert response.status_code == 200, (language, path)
            translated = set(_parse(response.content.decode()).texts)
            same = [
                t
                for t in _parse(html).texts
                if t in translated
                and ENGLISH.search(t)
                and not ZONE.match(t)
                and not PATH.match(t)
                and t not in stored
            ]
            for text in same:
                leftovers.setdefault(f"{language} {ID.sub('/N', path)}", set()).add(text)
        User.objects.filter(pk=user.pk).update(language="en")
    report = "\n".join(f"{where}: {sorted(texts)}" for where, texts in sorted(leftovers.items()))
    assert leftovers == {}, f"English left on {len(leftovers)} pages:\n{report}"
