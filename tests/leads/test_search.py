"""Search: one rule (leads.search) behind the header box, its results page, the board, the list
and the API; the search documents follow every write path (PostgreSQL triggers)."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection
from django.test import Client

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, LeadSearchDocument, Note, Team
from leads.search import SEARCH_MAX_LENGTH, parse_search
from privacy.gdpr import lead_erase
from privacy.imports import import_job_create, import_run
from privacy.merge import lead_merge
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="typo tolerance and triggers are PostgreSQL's"
)


@pytest.fixture
def marketer():
    return UserFactory(username="search-marketer", role=Role.MARKETER)


@pytest.fixture
def client_for():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def found(client, q: str) -> set[int]:
    """Lead ids on the results page for ``q``."""
    response = client.get("/leads/search/", {"q": q})
    assert response.status_code == 200, response.content[:300]
    return {lead.pk for lead in response.context["results"]}


@pytest.fixture
def people():
    alice = LeadFactory(
        first_name="Alice",
        last_name="Wunderlich",
        email="alice.wunderlich@northwind.example",
        company="Northwind Logistics",
        domain="northwind.example",
        job_title="Head of Procurement",
    )
    bob = LeadFactory(
        first_name="Bob",
        last_name="Ostrowski",
        email="bob@contoso.example",
        company="Contoso Pharma",
        domain="contoso.example",
        job_title="Chemist",
    )
    Note.objects.create(
        lead=bob, body="Met at the Hamburg trade fair, wants a pilot", created_at=bob.created_at
    )
    return alice, bob


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("logistics", "alice"),  # a company word
        ("WUNDERLICH", "alice"),  # a surname, any case
        ("alice.wunder", "alice"),  # an e-mail prefix
        ("procurement", "alice"),  # job title
        ("northwind.example", "alice"),  # domain
        ("hamburg pilot", "bob"),  # words from notes, anywhere, any order
        ("bob pharma", "bob"),  # words from different fields
        ("Os", "bob"),  # two letters: a word start
    ],
)
def test_words_anywhere_find_the_lead(people, marketer, client_for, q, who):
    alice, bob = people
    expected = {"alice": alice, "bob": bob}[who]
    assert found(client_for(marketer), q) == {expected.pk}


def test_words_must_all_match(people, marketer, client_for):
    assert found(client_for(marketer), "alice pharma") == set()
    if connection.vendor == "postgresql":  # SQLite: any substring, even this short
        assert found(client_for(marketer), "st") == set()  # not a word start of either


@postgres_only
@pytest.mark.parametrize("q", ["logistcs", "Wunderlih", "procurment"])
def test_small_typos_are_tolerated_on_postgres(people, marketer, client_for, q):
    alice, _ = people
    assert alice.pk in found(client_for(marketer), q)


def test_results_show_stage_owner_and_company(people, marketer, client_for):
    alice, _ = people
    rep = UserFactory(username="search-owner", role=Role.SALES_REP)
    Lead.objects.filter(pk=alice.pk).update(owner=rep, stage=Stage.MQL)
    page = client_for(marketer).get("/leads/search/", {"q": "northwind"}).content.decode()
    row = page[page.index('class="search-result"') :]
    for text in ("Alice Wunderlich", "Northwind Logistics", "MQL", "search-owner"):
        assert text in row


def test_search_respects_visibility_like_the_list(people, client_for):
    alice, bob = people
    rep = UserFactory(username="search-rep", role=Role.SALES_REP)
    team = Team.objects.create(name="Search team")
    team.members.add(rep)
    Lead.objects.filter(pk=alice.pk).update(owner=rep)
    Lead.objects.filter(pk=bob.pk).update(team=team)
    other = LeadFactory(company="Northwind Logistics")  # nobody's: the rep may not see it
    client = client_for(rep)
    assert found(client, "northwind") == {alice.pk}
    assert found(client, "contoso") == {bob.pk}
    listed = client.get("/leads/list/", {"q": "northwind"}).context["rows"]
    assert {lead.pk for lead in listed} == {alice.pk}
    assert other.pk in found(client_for(UserFactory(username="s-m", role=Role.MARKETER)), "north")


def test_a_user_without_lead_access_gets_403(client_for):
    nobody = UserFactory(username="search-nobody")
    assert client_for(nobody).get("/leads/search/", {"q": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Type a word to search for."),
        ("   ", "Type a word to search for."),
        ("x" * (SEARCH_MAX_LENGTH + 1), "too long"),
        ("%%% ''' ---", "at least one letter or digit"),
        (" ".join(["w"] * 9), "at most 8 words"),
    ],
)
def test_unsearchable_queries_are_explained_never_5xx(marketer, client_for, q, message):
    response = client_for(marketer).get("/leads/search/", {"q": q})
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize(
    "q", ["'", '"', "\\", "a & b | !c", "foo:*", "%_%", "()", "é", "日本", "x\x00y"[:1]]
)
def test_odd_characters_search_without_errors(people, marketer, client_for, q):
    client = client_for(marketer)
    for url in ("/leads/search/", "/leads/list/", "/leads/board/", "/api/v1/leads/"):
        assert client.get(url, {"q": q}).status_code in (200, 400), (url, q)


def test_too_long_query_is_a_400_naming_q_in_the_api_and_an_error_on_the_list(marketer, client_for):
    client = client_for(marketer)
    response = client.get("/api/v1/leads/", {"q": "x" * (SEARCH_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["q"] == [
        f"Search text is too long: at most {SEARCH_MAX_LENGTH} characters."
    ]
    page = client.get("/leads/list/", {"q": "%%%"})
    assert page.status_code == 200
    assert "at least one letter or digit" in page.content.decode()


def test_parse_search_collapses_and_lowercases():
    terms = parse_search("  Acme   LOGISTICS ")
    assert terms.text == "acme logistics"
    assert terms.words == ("acme", "logistics")
    with pytest.raises(ValidationError):
        parse_search("!!!")


def test_header_box_is_on_every_page_for_lead_users(marketer, client_for):
    client = client_for(marketer)
    for url in ("/leads/board/", "/leads/list/", "/handover/notifications/", "/leads/new/"):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert 'id="global-search-q"' in html, url
        assert '<label for="global-search-q"' in html, url
        assert 'aria-keyshortcuts="/"' in html, url


# --- the search documents follow every write path ------------------------------------------------


def test_erased_lead_is_not_found(people, marketer, client_for):
    _, bob = people
    client = client_for(marketer)
    assert found(client, "hamburg") == {bob.pk}
    lead_erase(lead_id=bob.pk, actor=None)
    for q in ("bob", "ostrowski", "contoso", "hamburg", "bob@contoso.example", "chemist"):
        assert found(client, q) == set(), q
    if connection.vendor == "postgresql":
        doc = LeadSearchDocument.objects.get(lead=bob)
        assert doc.document == ""
        assert not str(doc.search_vector or "")


def test_imported_leads_are_findable(marketer, client_for):
    data = (
        b"email,first_name,last_name,company,job_title\n"
        b"quirin.zabel@imported.example,Quirin,Zabel,Zabel Shipping,Dispatcher\n"
        b"ria.yilmaz@imported.example,Ria,Yilmaz,Yilmaz Freight,Buyer\n"
    )
    job = import_job_create(
        upload=File(io.BytesIO(data), name="people.csv"), actor=None, enqueue=False
    )
    import_run(job_id=job.pk)
    client = client_for(marketer)
    quirin = Lead.objects.get(email="quirin.zabel@imported.example")
    assert found(client, "zabel shipping") == {quirin.pk}
    assert found(client, "dispatcher") == {quirin.pk}
    assert len(found(client, "imported.example")) == 2


def test_edits_notes_and_merges_keep_search_current(people, marketer, client_for):
    alice, bob = people
    client = client_for(marketer)
    Lead.objects.filter(pk=alice.pk).update(company="Fabrikam Freight")  # a bulk UPDATE
    assert found(client, "fabrikam") == {alice.pk}
    assert found(client, "northwind logistics") == set()
    note = Note.objects.create(lead=alice, body="prefers Tuesdays", created_at=alice.created_at)
    assert found(client, "tuesdays") == {alice.pk}
    note.delete()
    assert found(client, "tuesdays") == set()
    lead_merge(survivor_id=alice.pk, duplicate_id=bob.pk, actor=None)  # bob's note moves over
    assert found(client, "hamburg") == {alice.pk}
    assert not Lead.objects.filter(pk=bob.pk).exists()


@postgres_only
def test_score_writes_leave_search_documents_alone(people):
    """The point of the narrow table: a score UPDATE fires no search trigger and rewrites no
    search document (its row versions stay as they were)."""
    alice, _ = people
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text FROM leads_leadsearchdocument WHERE lead_id = %s", [alice.pk]
        )
        before = cursor.fetchone()
        cursor.execute("UPDATE leads_lead SET score = score + 1, fit_score = 3")
        cursor.execute(
            "SELECT xmin::text FROM leads_leadsearchdocument WHERE lead_id = %s", [alice.pk]
        )
        assert cursor.fetchone() == before


@postgres_only
def test_leads_table_has_no_search_index_and_documents_have_both():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE tablename IN ('leads_lead', 'leads_leadsearchdocument')"
        )
        rows = cursor.fetchall()
    # the custom fields' GIN (jsonb_path_ops: a few entries a lead, not a trigram per letter)
    # is the one GIN on leads: a score write costs the same with or without it (benchmarks.md,
    # "Custom fields")
    on_leads = [
        d for t, n, d in rows if t == "leads_lead" and "gin" in d.lower() and n != "lead_custom_gin"
    ]
    assert on_leads == []
    names = {n for t, n, _ in rows if t == "leads_leadsearchdocument"}
    assert {"lead_search_doc_trgm_idx", "lead_search_doc_fts_idx"} <= names


@postgres_only
def test_deleting_a_lead_deletes_its_document_even_by_raw_sql(people):
    alice, _ = people
    Note.objects.create(lead=alice, body="to be deleted", created_at=alice.created_at)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM leads_note WHERE lead_id = %s", [alice.pk])
        cursor.execute("DELETE FROM leads_stagechange WHERE lead_id = %s", [alice.pk])
        cursor.execute("DELETE FROM leads_lead WHERE id = %s", [alice.pk])
    assert not LeadSearchDocument.objects.filter(lead_id=alice.pk).exists()


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return str(cursor.fetchone()[0])


@postgres_only
def test_close_word_lookup_leaves_the_statement_timeout_as_it_was(people):
    from leads.search import close_words

    before = _statement_timeout()
    assert close_words("logistcs") == ["logistics"]
    assert _statement_timeout() == before


@postgres_only
def test_a_slow_close_word_lookup_gives_up_and_the_search_goes_on(
    people, marketer, client_for, monkeypatch
):
    """A look-up past CLOSE_WORDS_TIMEOUT_MS finds no close words (the typo finds nothing), the
    page still answers and the connection's timeout is restored."""
    from leads import search

    before = _statement_timeout()
    monkeypatch.setattr(search, "CLOSE_WORDS_TIMEOUT_MS", 50)
    monkeypatch.setattr(  # the same five parameters, and a second's sleep
        search,
        "_CLOSE_WORDS",
        "SELECT %s::text FROM pg_sleep(1) WHERE %s::int > 0 AND %s::text = %s::text LIMIT %s",
    )
    assert search.close_words("logistcs") == []
    assert _statement_timeout() == before
    assert found(client_for(marketer), "logistcs") == set()
    assert found(client_for(marketer), "logistics") == {people[0].pk}


@postgres_only
def test_four_letter_words_are_not_respelled(people, marketer, client_for, monkeypatch):
    from leads import search

    def fail(word):
        raise AssertionError(f"looked up close words for {word!r}")

    monkeypatch.setattr(search, "close_words", fail)
    assert found(client_for(marketer), "chem") == {people[1].pk}  # a substring of "chemist"
    assert found(client_for(marketer), "annx") == set()  # in no lead, too short to respell
