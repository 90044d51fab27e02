"""The translation catalogs (issue 21, docs/i18n.md) are complete and current.

- every message of every language is translated, none fuzzy, plural forms all filled;
- placeholders survive translation (``%(name)s`` in, ``%(name)s`` out);
- the compiled ``.mo`` files (what the app reads; committed, so no install needs gettext) say
  what their ``.po`` says;
- the catalogs hold exactly the messages the code marks today: ``scripts/messages`` run on a
  copy of the tree finds nothing new and nothing gone (skipped without GNU gettext; CI has it).
"""

import re
import shutil
import subprocess
import sys
from gettext import c2py
from pathlib import Path

import polib  # type: ignore[import-untyped]
import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
DOMAINS = ["django", "djangojs"]
CATALOGS = [(lang, domain) for lang in LANGUAGES for domain in DOMAINS]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def _po(lang: str, domain: str, root: Path = LOCALE) -> polib.POFile:
    return polib.pofile(str(root / lang / "LC_MESSAGES" / f"{domain}.po"))


def _texts(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


@pytest.mark.parametrize(("lang", "domain"), CATALOGS)
def test_every_message_is_translated_and_none_is_fuzzy(lang, domain):
    po = _po(lang, domain)
    assert len(po) > (20 if domain == "django" else 5)
    untranslated = [e.msgid for e in po if not all(_texts(e))]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert untranslated == [], f"{lang}/{domain}: {len(untranslated)} untranslated"
    assert fuzzy == [], f"{lang}/{domain}: {len(fuzzy)} fuzzy"


@pytest.mark.parametrize(("lang", "domain"), CATALOGS)
def test_plural_forms_match_the_language(lang, domain):
    """Hungarian, Danish and German: one form for 1, one for the rest. Czech: 1, 2–4 and 5+
    (plus the form for fractions that Django's own Czech catalog has, so the two agree)."""
    po = _po(lang, domain)
    header = po.metadata["Plural-Forms"]
    nplurals = int(re.search(r"nplurals=(\d+)", header).group(1))
    plural = c2py(re.search(r"plural=(.*?);?$", header).group(1))
    forms_for = {n: plural(n) for n in (0, 1, 2, 3, 4, 5, 11, 22, 101)}
    if lang == "cs":
        assert nplurals == 4
        assert forms_for[1] != forms_for[2] == forms_for[3] == forms_for[4] != forms_for[5]
        assert forms_for[5] == forms_for[0] == forms_for[11] == forms_for[22] != forms_for[1]
    else:
        assert nplurals == 2
        assert forms_for[1] == 0
        assert {forms_for[n] for n in (0, 2, 5, 11, 101)} == {1}
    for entry in po:
        if entry.msgid_plural:
            assert len(entry.msgstr_plural) == nplurals, entry.msgid


@pytest.mark.parametrize(("lang", "domain"), CATALOGS)
def test_translations_keep_every_placeholder(lang, domain):
    for entry in _po(lang, domain):
        wanted = sorted(set(PLACEHOLDER.findall(entry.msgid + (entry.msgid_plural or ""))))
        for text in _texts(entry):
            got = sorted(set(PLACEHOLDER.findall(text)))
            # a singular may spell its one out instead of %(n)s; it must not invent any
            assert set(got) <= set(wanted), (entry.msgid, text)
        if wanted:
            all_out = set().union(*(PLACEHOLDER.findall(t) for t in _texts(entry)))
            assert all_out == set(wanted), (entry.msgid, _texts(entry))


@pytest.mark.parametrize(("lang", "domain"), CATALOGS)
def test_the_compiled_catalog_says_what_its_source_says(lang, domain):
    po = _po(lang, domain)
    mo = polib.mofile(str(LOCALE / lang / "LC_MESSAGES" / f"{domain}.mo"))
    compiled = {(e.msgctxt, e.msgid): _texts(e) for e in mo if e.msgid}
    source = {(e.msgctxt, e.msgid): _texts(e) for e in po.translated_entries()}
    assert compiled == source, "run scripts/messages compile"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext)")
def test_the_catalogs_hold_exactly_the_messages_the_code_marks(tmp_path):
    """``scripts/messages`` on a copy of the tree: the same messages as the committed catalogs
    (a string marked since, or one no longer marked, fails here until the catalogs are updated
    and translated)."""
    copy = tmp_path / "tree"
    skip = shutil.ignore_patterns(
        ".venv", ".git", "var", "staticfiles", "node_modules", "__pycache__", "*.mo"
    )
    shutil.copytree(ROOT, copy, ignore=skip)
    subprocess.run(  # noqa: S603 (our own script, our own interpreter)
        [shutil.which("bash") or "/bin/bash", "scripts/messages"],
        cwd=copy,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x"},
        check=True,
        capture_output=True,
        timeout=600,
    )
    for lang, domain in CATALOGS:
        fresh = {(e.msgctxt, e.msgid) for e in _po(lang, domain, copy / "locale")}
        committed = {(e.msgctxt, e.msgid) for e in _po(lang, domain)}
        assert sorted(fresh - committed, key=str) == [], f"{lang}/{domain}: new, not in catalog"
        assert sorted(committed - fresh, key=str) == [], f"{lang}/{domain}: in catalog, gone"
