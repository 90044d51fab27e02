"""Lead search: one rule for the header box, the results page, the board, the list and the API.

Every word must be found somewhere in a lead's name, e-mail, company, domain, job title or notes.
On PostgreSQL a word matches the narrow ``LeadSearchDocument`` (kept by triggers, migration
0012): from three characters as a substring of its text (``LIKE '%…%'``, pg_trgm GIN); one or
two characters as a word start (``search_vector``, GIN: a substring that short has no trigram).
A word found in no document is taken as misspelled and replaced by the closest words the
documents do contain (pg_trgm word similarity ≥ 0.6, looked up through the same trigram index:
"logistcs" searches for "logistics"). Results rank by ``ts_rank`` of the words searched for.
On SQLite each word is a case-insensitive substring of the lead's columns or notes (a scan).
Erased leads are never found.
"""

import json
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.db.models import Exists, F, FloatField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from leadflow.pgplans import local_setting
from leads.models import Lead, LeadSearchDocument, Note

SEARCH_MAX_LENGTH = 200
SEARCH_MAX_WORDS = 8
# below this many characters a word matches word starts only (full-text prefix)
SUBSTRING_MIN = 3
# relevance ranking reads every match: above this many, the newest matches come first instead
RANK_LIMIT = 10_000
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchTerms:
    text: str  # the whole query, lower-cased, spaces collapsed
    words: tuple[str, ...]  # each as typed (lower-cased), e.g. "jane.doe@"


def parse_search(value: str) -> SearchTerms:
    """The words of a search, or ValidationError naming what is wrong with it."""
    text = " ".join(value.split()).lower()
    if not text:
        raise ValidationError(_("Type a word to search for."), code="empty")
    if len(text) > SEARCH_MAX_LENGTH:
        raise ValidationError(
            _("Search text is too long: at most %(most)d characters.")
            % {"most": SEARCH_MAX_LENGTH},
            code="too_long",
        )
    words = tuple(w for w in text.split(" ") if _WORD.search(w))
    if not words:
        raise ValidationError(_("Search for at least one letter or digit."), code="no_words")
    if len(words) > SEARCH_MAX_WORDS:
        raise ValidationError(
            _("Search for at most %(most)d words at a time.") % {"most": SEARCH_MAX_WORDS},
            code="too_many_words",
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
    """From three characters a substring of the text (pg_trgm GIN); a shorter word, a full-text
    word prefix (too short for a trigram). A word prefix is also a substring of the text the
    vector is made of, so the substring alone finds it: asking the full-text index as well
    doubled the index reads of every word (at 1M leads, 63 of a three-word query's 70 ms)."""
    from django.contrib.postgres.search import SearchQuery

    if len(word) >= SUBSTRING_MIN:
        return Q(document__contains=word)
    return Q(search_vector=SearchQuery(_prefix_query(word), search_type="raw", config="simple"))


# Is ``word`` in any document as typed? The planner estimates a LIKE from a sample of the
# documents: a common word is met in the first rows of a scan (0.04 ms at 1M leads), a word in
# no sampled document is looked up in the trigram index (0.1-2 ms). (Asked together with the
# full-text vector, the same probe once scanned every document for an absent word.)
_PROBE = "SELECT EXISTS (SELECT 1 FROM leads_leadsearchdocument WHERE document LIKE %s)"


def _word_exists(word: str) -> bool:
    """Is ``word`` (three characters or more) in any document, as ``_postgres_exact`` asks?"""
    like = f"%{connection.ops.prep_for_like_query(word)}%"
    with connection.cursor() as cursor:
        cursor.execute(_PROBE, [like])
        row = cursor.fetchone()
    return bool(row and row[0])


# The words of a sample of the documents the trigram index offers for a misspelled word, that
# are close to it (``<%``: word similarity ≥ pg_trgm.word_similarity_threshold, 0.6), closest
# first. Matching the whole documents by similarity instead made PostgreSQL recheck every
# document sharing a trigram with the word (40,000 for "larsex" at 1M leads: 350 ms) before it
# met the query's other words.
_CLOSE_WORDS = (
    "SELECT w FROM (SELECT DISTINCT w FROM"
    " (SELECT document FROM leads_leadsearchdocument WHERE document %%> %s LIMIT %s) d,"
    " regexp_split_to_table(d.document, '[^[:alnum:]_]+') AS w WHERE %s <%% w) c"
    " ORDER BY word_similarity(%s, w) DESC, w LIMIT %s"
)
CLOSE_SAMPLE = 50  # documents read to find the close words (10-25 µs each: the similarity)
CLOSE_WORDS = 5  # close words searched for in place of a misspelled one


# Below this length a word is not respelled: a typo in a four-letter word leaves it under the
# 0.6 similarity to any word ("anna"/"anne" 0.43), and its few trigrams are in so many documents
# that the index offers tens of thousands to recheck (45,610 for "anna" at 1M leads: 0.9 s).
SPELLING_MIN = 5
# The look-up of close words gives up after this long and the word is searched as typed (it
# finds nothing): a word whose trigrams are common and close to no word costs a recheck of
# every document sharing them.
CLOSE_WORDS_TIMEOUT_MS = 150


def close_words(word: str) -> list[str]:
    """Words in the search documents spelled close to ``word``, closest first; none when the
    look-up takes longer than CLOSE_WORDS_TIMEOUT_MS."""
    try:
        with (
            local_setting("statement_timeout", str(CLOSE_WORDS_TIMEOUT_MS)),
            connection.cursor() as cursor,
        ):
            cursor.execute(_CLOSE_WORDS, [word, CLOSE_SAMPLE, word, word, CLOSE_WORDS])
            words = [row[0] for row in cursor.fetchall()]
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
        return []  # (the savepoint's rollback restored the timeout)
    return words


def _searched_as(word: str, *, spelling: bool) -> tuple[str, ...]:
    """What is searched for in place of ``word``: itself where some lead has it (or without
    ``spelling``); else the closest words some leads have. Spelling is tried only for words
    found nowhere: a word that exists as typed would match many look-alikes (every "swiftlabs"
    for "swift")."""
    if not spelling or len(word) < SPELLING_MIN or _word_exists(word):
        return (word,)
    return tuple(close_words(word)) or (word,)  # none close: the word, which matches nothing


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


Resolved = tuple[tuple[str, ...], ...]  # per typed word, the words searched for in its place


def _resolve(terms: SearchTerms, *, spelling: bool) -> Resolved:
    return tuple(_searched_as(word, spelling=spelling) for word in terms.words)


def _postgres_filter(queryset: QuerySet[Lead], resolved: Resolved) -> QuerySet[Lead]:
    condition = Q()
    for words in resolved:
        either = Q()
        for word in words:
            either |= _postgres_exact(word)
        condition &= either
    # the matches come from the search table's indexes first, then meet the visibility filter
    matches = LeadSearchDocument.objects.filter(condition).values("lead_id")
    return queryset.filter(pk__in=matches)


def search_filter(
    queryset: QuerySet[Lead], terms: SearchTerms, *, spelling: bool = True
) -> QuerySet[Lead]:
    """``queryset`` narrowed to the leads every word of ``terms`` matches; with ``spelling``
    (PostgreSQL), a word found nowhere matches its close spellings."""
    if connection.vendor == "postgresql":
        return _postgres_filter(queryset, _resolve(terms, spelling=spelling))
    condition = Q()
    for word in terms.words:
        condition &= _scan_word(word)
    return queryset.filter(condition, erased_at__isnull=True)


def search_ranked(
    queryset: QuerySet[Lead], terms: SearchTerms, *, spelling: bool = True
) -> QuerySet[Lead]:
    """``search_filter``, best match first by full-text rank (the weights put name and e-mail
    before company, then notes) on PostgreSQL, when at most RANK_LIMIT leads match; a broader
    search (a common company word over a million leads) lists the newest matches first, since
    ranking every match would read them all. On SQLite, newest first (no relevance there)."""
    if connection.vendor != "postgresql":
        return search_filter(queryset, terms).order_by("-id")
    resolved = _resolve(terms, spelling=spelling)
    matched = _postgres_filter(queryset, resolved)
    if search_is_broad(matched):
        return matched.order_by("-id")
    from django.contrib.postgres.search import SearchQuery, SearchRank

    words = dict.fromkeys(word for words in resolved for word in words)  # (ordered, unique)
    query = SearchQuery(
        " | ".join(_prefix_query(w) for w in words if _WORD.search(w)),
        search_type="raw",
        config="simple",
    )
    rank = Coalesce(
        SearchRank(F("search_document__search_vector"), query),
        Value(0.0),
        output_field=FloatField(),
    )
    return matched.annotate(rank=rank).order_by("-rank", "-score", "-id")
