"""Lead search: one rule for the header box, the results page, the board, the list and the API.

Every word must be found somewhere in a lead's name, e-mail, company, domain, job title or notes.
On PostgreSQL a word matches the narrow ``LeadSearchDocument`` (kept by triggers, migration
0012) by any of: a full-text word prefix (``search_vector``, GIN), a substring of the text
(``LIKE '%…%'``, pg_trgm GIN) or a close spelling (pg_trgm word similarity ≥ 0.6, the same
index: "logistcs" finds "Logistics"). Results rank by ``ts_rank`` plus that word similarity.
One- or two-character words match word starts only (a substring that short has no trigram).
On SQLite each word is a case-insensitive substring of the lead's columns or notes (a scan).
Erased leads are never found.
"""

import json
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from leads.models import Lead, LeadSearchDocument, Note

SEARCH_MAX_LENGTH = 200
SEARCH_MAX_WORDS = 8
# below this many characters a word matches word starts only (full-text prefix)
SUBSTRING_MIN = 3
# relevance ranking reads every match: above this many, the newest matches come first instead
RANK_LIMIT = 1_000
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchTerms:
    text: str  # the whole query, lower-cased, spaces collapsed
    words: tuple[str, ...]  # each as typed (lower-cased), e.g. "jane.doe@"


def parse_search(value: str) -> SearchTerms:
    """The words of a search, or ValidationError naming what is wrong with it."""
    text = " ".join(value.split()).lower()
    if not text:
        raise ValidationError("Type a word to search for.", code="empty")
    if len(text) > SEARCH_MAX_LENGTH:
        raise ValidationError(
            f"Search text is too long: at most {SEARCH_MAX_LENGTH} characters.", code="too_long"
        )
    words = tuple(w for w in text.split(" ") if _WORD.search(w))
    if not words:
        raise ValidationError("Search for at least one letter or digit.", code="no_words")
    if len(words) > SEARCH_MAX_WORDS:
        raise ValidationError(
            f"Search for at most {SEARCH_MAX_WORDS} words at a time.", code="too_many_words"
        )
    return SearchTerms(text=text, words=words)


def validate_search(value: str) -> None:
    """A form/filter validator (empty values never reach validators)."""
    parse_search(value)


def _prefix_query(word: str) -> str:
    """``to_tsquery`` text: every run of letters/digits of ``word`` as a prefix, ANDed. Only
    \\w characters reach it, so no user text is read as tsquery syntax."""
    return " & ".join(f"{token}:*" for token in _WORD.findall(word))


def _postgres_exact(word: str) -> Q:
    """A full-text word prefix, or (from three characters) a substring of the text."""
    from django.contrib.postgres.search import SearchQuery

    substring = Q(document__contains=word)
    if len(word) >= SUBSTRING_MIN and not _WORD.fullmatch(word):
        # an e-mail or domain piece ("vera.larsen.5"): the substring says it exactly, where its
        # parts as prefixes ("5:*", "example:*") would make the full-text index read every lead
        return substring
    query = SearchQuery(_prefix_query(word), search_type="raw", config="simple")
    prefix = Q(search_vector=query)
    if len(word) < SUBSTRING_MIN:
        return prefix
    return prefix | substring


# Is ``word`` in any document as typed? A MATERIALIZED CTE, not ``LIMIT 1``: with a limit the
# planner bets on meeting a match early in a sequential scan, and reads every document when the
# word is in none (the typo case). The CTE is planned for all its rows (the GIN indexes when the
# word is rare), and still stops at the first row when it is common.
_PROBE = (
    "WITH search_probe AS MATERIALIZED (SELECT 1 FROM leads_leadsearchdocument"
    " WHERE search_vector @@ to_tsquery('simple', %s) OR document LIKE %s)"
    " SELECT EXISTS (SELECT 1 FROM search_probe)"
)


def _word_exists(word: str) -> bool:
    like = f"%{connection.ops.prep_for_like_query(word)}%"
    # as _postgres_exact: an e-mail or domain piece is looked for as a substring only
    prefix = _prefix_query(word) if _WORD.fullmatch(word) else ""  # an empty tsquery: none
    with connection.cursor() as cursor:
        cursor.execute(_PROBE, [prefix, like])
        row = cursor.fetchone()
    return bool(row and row[0])


def _postgres_word(word: str) -> Q:
    """``word`` as typed where some lead has it; else its close spellings (trigram word
    similarity ≥ pg_trgm.word_similarity_threshold, 0.6): "logistcs" finds "logistics".
    Spelling is tried only for words found nowhere: a word that exists as typed would match
    many look-alikes (every "swiftlabs" for "swift"), and the planner would scan for them."""
    exact = _postgres_exact(word)
    if len(word) < SUBSTRING_MIN:
        return exact
    if _word_exists(word):
        return exact
    return Q(document__trigram_word_similar=word)


def _scan_word(word: str) -> Q:
    fields = ("first_name", "last_name", "email", "company", "domain", "job_title")
    q = Q()
    for field in fields:
        q |= Q(**{f"{field}__icontains": word})
    notes = Note.objects.filter(lead=OuterRef("pk"), body__icontains=word)
    return q | Q(Exists(notes))


def search_is_broad(matched: QuerySet[Lead]) -> bool:
    """More than RANK_LIMIT leads are expected to match, by the planner's estimate (planning
    only: counting the matches of a common word would read them all)."""
    sql, params = matched.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):  # psycopg may hand JSON back as text
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"]) > RANK_LIMIT


def search_filter(queryset: QuerySet[Lead], terms: SearchTerms) -> QuerySet[Lead]:
    """``queryset`` narrowed to the leads every word of ``terms`` matches."""
    on_postgres = connection.vendor == "postgresql"
    match = _postgres_word if on_postgres else _scan_word
    condition = Q()
    for word in terms.words:
        condition &= match(word)
    if not on_postgres:
        return queryset.filter(condition, erased_at__isnull=True)
    # the matches come from the search table's indexes first, then meet the visibility filter
    matches = LeadSearchDocument.objects.filter(condition).values("lead_id")
    return queryset.filter(pk__in=matches)


def search_ranked(queryset: QuerySet[Lead], terms: SearchTerms) -> QuerySet[Lead]:
    """``search_filter``, best match first: full-text rank plus trigram word similarity on
    PostgreSQL, when at most RANK_LIMIT leads match; a broader search (a common company word
    over a million leads) lists the newest matches first, since ranking every match would read
    them all. On SQLite, newest first (no relevance there)."""
    matched = search_filter(queryset, terms)
    if connection.vendor != "postgresql" or search_is_broad(matched):
        return matched.order_by("-id")
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity

    query = SearchQuery(
        " | ".join(_prefix_query(w) for w in terms.words), search_type="raw", config="simple"
    )
    rank = Coalesce(
        SearchRank(F("search_document__search_vector"), query),
        Value(0.0),
        output_field=FloatField(),
    ) + TrigramWordSimilarity(terms.text, "search_document__document")
    return matched.annotate(rank=rank).order_by("-rank", "-score", "-id")
