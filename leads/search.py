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

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from leads.models import Lead, Note

SEARCH_MAX_LENGTH = 200
SEARCH_MAX_WORDS = 8
# below this many characters a word matches word starts only (full-text prefix)
SUBSTRING_MIN = 3
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


def _postgres_word(word: str) -> Q:
    from django.contrib.postgres.search import SearchQuery

    prefix = Q(
        search_document__search_vector=SearchQuery(
            _prefix_query(word), search_type="raw", config="simple"
        )
    )
    if len(word) < SUBSTRING_MIN:
        return prefix
    return (
        prefix
        | Q(search_document__document__contains=word)
        | Q(search_document__document__trigram_word_similar=word)
    )


def _scan_word(word: str) -> Q:
    fields = ("first_name", "last_name", "email", "company", "domain", "job_title")
    q = Q()
    for field in fields:
        q |= Q(**{f"{field}__icontains": word})
    notes = Note.objects.filter(lead=OuterRef("pk"), body__icontains=word)
    return q | Q(Exists(notes))


def search_filter(queryset: QuerySet[Lead], terms: SearchTerms) -> QuerySet[Lead]:
    """``queryset`` narrowed to the leads every word of ``terms`` matches."""
    on_postgres = connection.vendor == "postgresql"
    match = _postgres_word if on_postgres else _scan_word
    condition = Q()
    for word in terms.words:
        condition &= match(word)
    if not on_postgres:
        condition &= Q(erased_at__isnull=True)
    return queryset.filter(condition)


def search_ranked(queryset: QuerySet[Lead], terms: SearchTerms) -> QuerySet[Lead]:
    """``search_filter``, best match first: full-text rank plus trigram word similarity on
    PostgreSQL; on SQLite the best score first (no relevance there)."""
    matched = search_filter(queryset, terms)
    if connection.vendor != "postgresql":
        return matched.order_by("-score", "-id")
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity

    query = SearchQuery(
        " | ".join(_prefix_query(w) for w in terms.words), search_type="raw", config="simple"
    )
    rank = Coalesce(
        SearchRank(F("search_document__search_vector"), query), Value(0.0), output_field=FloatField()
    ) + TrigramWordSimilarity(terms.text, "search_document__document")
    return matched.annotate(rank=rank).order_by("-rank", "-score", "-id")
