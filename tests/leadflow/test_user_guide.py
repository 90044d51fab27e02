"""The user guide's pictures, links and page addresses are real: every image and relative link in
the docs and README points to a file, every screenshot is shown somewhere (stale ones are
deleted, bench/ui/screenshots.py makes the rest), every #anchor of the guide names one of its
headings, and every page address it mentions is a route of the product."""

import re
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDE = ROOT / "docs" / "user-guide.md"
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_image_and_relative_link_points_to_a_file(doc: Path) -> None:
    targets = {t for t in LINK.findall(doc.read_text()) if not re.match(r"[a-z]+:", t)}
    missing = sorted(t for t in targets if not (doc.parent / t).exists())
    assert missing == [], f"{doc.name} points to files that do not exist: {missing}"


def test_every_screenshot_is_shown_in_a_doc() -> None:
    text = "\n".join(d.read_text() for d in DOCS)
    shots = sorted(p.name for p in (ROOT / "docs" / "screenshots").glob("*.png"))
    assert shots, "no screenshots: run bench/ui/screenshots.py"
    unused = [name for name in shots if f"screenshots/{name}" not in text]
    assert unused == [], f"delete the screenshots no doc shows: {unused}"


def test_the_guides_anchors_name_its_headings() -> None:
    text = GUIDE.read_text()
    headings = {_slug(h) for h in re.findall(r"^#+\s+(.+)$", text, flags=re.MULTILINE)}
    anchors = set(re.findall(r"\]\(#([^)]+)\)", text))
    for doc in DOCS:
        anchors |= set(re.findall(r"user-guide\.md#([^)]+)\)", doc.read_text()))
    assert sorted(anchors - headings) == []


def test_the_page_addresses_in_the_guide_are_routes() -> None:
    paths = set(
        re.findall(
            r"`(/(?:leads|handover|reports|scoring|privacy|settings|accounts|capture)/[^`\s]*)`",
            GUIDE.read_text(),
        )
    )
    assert len(paths) > 10, paths
    unknown = []
    for path in sorted(paths):
        try:
            resolve(re.sub(r"<\w+>", "1", path))
        except Resolver404:
            unknown.append(path)
    assert unknown == [], f"the guide names pages that do not exist: {unknown}"
