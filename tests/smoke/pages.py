"""Production smoke, browser half: real Chromium against the served production profile.

    python tests/smoke/pages.py --base-url http://localhost:8100 --manifest STATIC_ROOT/staticfiles.json

Waits until /healthz says the database answers and the worker ran beat's heartbeat, then logs
in as each demo role and opens every link of that role's top bar, every report the reports
index lists, and one page of each URL pattern those pages link to (all read from the rendered
pages, so a new page is covered without editing this file). A page fails on a 4xx/5xx response for the document or any sub-resource,
a failed request, a console error, an uncaught script error, a Content-Security-Policy
violation, or a /static/ URL that is not a hashed name from the collectstatic manifest.
Prints pages x roles and a total; exits 1 on any failure. Driven by .ci/smoke, not pytest.
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

ROLES = ("marketer", "rep1", "manager", "admin")  # leads/management/commands/seed_demo.py
PASSWORD = "leadflow-demo"  # noqa: S105 (seed_demo's demo password)
ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
DOWNLOADS = (".csv",)
CHROMIUM = os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium")
# a securitypolicyviolation event reaches the smoke through a binding Playwright injects
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__smokeCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
                    `(${e.sourceFile || ""}:${e.lineNumber || ""})`);
});
"""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Visit:
    status: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Watcher:
    """Collects what goes wrong in one browser context, attributed to the page being opened."""

    hashed: set[str]
    current: Visit = field(default_factory=Visit)

    def attach(self, context: BrowserContext) -> None:
        context.expose_binding("__smokeCsp", lambda _source, text: self._csp(text))
        context.add_init_script(CSP_LISTENER)
        context.on("response", self._response)
        context.on("requestfailed", self._failed)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problem(f"script error: {error.error}"))

    def problem(self, text: str) -> None:
        if text not in self.current.problems:
            self.current.problems.append(text)

    def _csp(self, text: str) -> None:
        self.problem(f"CSP violation: {text}")

    def _response(self, response: Response) -> None:
        url = urlsplit(response.url)
        if response.status >= 400:
            self.problem(f"{response.status} {response.request.method} {url.path}")
        if url.path.startswith("/static/") and url.path[len("/static/") :] not in self.hashed:
            self.problem(f"static file not from the manifest (no hashed name): {url.path}")

    def _failed(self, request: Request) -> None:
        self.problem(f"request failed: {request.method} {request.url} ({request.failure})")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problem(f"console {message.type}: {message.text}")


def wait_for_health(base_url: str, timeout: float) -> dict[str, Any]:
    """The heartbeat row is written by the worker, from a task beat sends every 15 s: "ok" in
    a fresh database means both processes of this run are alive."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urljoin(base_url, "/healthz"), timeout=5) as r:  # noqa: S310
                body = json.load(r)
            if body.get("database") == "ok" and body.get("worker") == "ok":
                return body
        except OSError as exc:
            body = {"error": str(exc)}
        time.sleep(2)
    raise SystemExit(f"/healthz did not report database and worker ok in {timeout:.0f} s: {body}")


def same_origin_paths(page: Page, selector: str) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        selector, "els => els.map(e => e.getAttribute('href'))"
    )
    paths = []
    for href in hrefs:
        if not href or href.startswith(("#", "data:", "mailto:", "javascript:")):
            continue
        url = urlsplit(urljoin(page.url, href))
        if url.netloc == urlsplit(page.url).netloc and url.path not in paths:
            paths.append(url.path + (f"?{url.query}" if url.query else ""))
    return paths


def open_page(page: Page, watcher: Watcher, path: str) -> Visit:
    watcher.current = Visit()
    try:
        response = page.goto(path, wait_until="load")
        # htmx fragments (the bell, board columns) load after the document: let them finish
        page.wait_for_load_state("networkidle", timeout=10_000)
        watcher.current.status = response.status if response else None
        if response is None:
            watcher.problem("no response")
    except PlaywrightError as exc:
        watcher.problem(f"navigation: {exc.message.splitlines()[0]}")
    return watcher.current


def log_in(page: Page, watcher: Watcher, username: str) -> Visit:
    visit = open_page(page, watcher, "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    if urlsplit(page.url).path.startswith("/accounts/login/"):
        watcher.problem(f"login as {username} failed (still on the login page)")
    return visit


def shape(path: str) -> str:
    """A page's URL pattern: /leads/17/ and /leads/90/ are one page to check."""
    return ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


def is_download(path: str) -> bool:
    return path.split("?", 1)[0].endswith(DOWNLOADS)


def check_role(
    context: BrowserContext, watcher: Watcher, role: str, on_visit: Callable[[str, Visit], None]
) -> None:
    """The navigation's pages (and the reports the index lists), then one page of each URL
    pattern those pages link to (a lead, a scoring model, an admin list...)."""
    page = context.new_page()
    on_visit("/accounts/login/", log_in(page, watcher, role))
    nav = same_origin_paths(page, "header.topbar a[href]")
    seen = {"/accounts/login/"}
    one_click: list[str] = []
    while nav:
        path = nav.pop(0)
        if shape(path) in seen:
            continue
        seen.add(shape(path))
        visit = open_page(page, watcher, path)
        links = same_origin_paths(page, "main a[href]:not([download])")
        if path == "/reports/":  # every report the index lists counts as navigation
            nav[0:0] = links
        one_click += [link for link in links if not is_download(link)]
        check_downloads(context, watcher, [link for link in links if is_download(link)])
        on_visit(shape(path), visit)
    for path in one_click:
        if shape(path) in seen:
            continue
        seen.add(shape(path))
        visit = open_page(page, watcher, path)
        on_visit(shape(path), visit)
    page.close()


def check_downloads(context: BrowserContext, watcher: Watcher, paths: list[str]) -> None:
    """CSV exports are downloads: fetched with the session rather than opened."""
    for path in paths:
        got = context.request.get(path)
        if not got.ok or not got.headers.get("content-type", "").startswith("text/csv"):
            watcher.problem(f"download {path}: {got.status} {got.headers.get('content-type')}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--manifest", required=True, type=Path, help="STATIC_ROOT/staticfiles.json")
    parser.add_argument("--health-timeout", type=float, default=90)
    args = parser.parse_args(argv)

    health = wait_for_health(args.base_url, args.health_timeout)
    say(f"/healthz: {health}")
    hashed = set(json.loads(args.manifest.read_text())["paths"].values())

    results: dict[str, dict[str, Visit]] = {}

    def record(role: str) -> Callable[[str, Visit], None]:
        return lambda path, visit: results.setdefault(path, {}).__setitem__(role, visit)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for role in ROLES:
            context = browser.new_context(
                base_url=args.base_url, viewport={"width": 1440, "height": 900}
            )
            context.set_default_timeout(20_000)
            watcher = Watcher(hashed)
            watcher.attach(context)
            check_role(context, watcher, role, record(role))
            context.close()
        browser.close()

    failed = report(results)
    # still alive after the pages: a worker or beat that died meanwhile turns this "stale"
    # only after two minutes, so .ci/smoke also checks that each process is still running
    health = wait_for_health(args.base_url, timeout=5)
    say(f"/healthz after the pages: {health}")
    return failed


def report(results: dict[str, dict[str, Visit]]) -> int:
    width = max(len(p) for p in results)
    say(f"\n{'page':<{width}}  " + "  ".join(f"{r:<9}" for r in ROLES))
    opened = failed = 0
    for path, by_role in results.items():
        cells = []
        for role in ROLES:
            visit = by_role.get(role)
            if visit is None:
                cells.append(f"{'-':<9}")  # this role has no link to it
                continue
            opened += 1
            failed += bool(visit.problems)
            cells.append(f"{str(visit.status) + (' FAIL' if visit.problems else ' ok'):<9}")
        say(f"{path:<{width}}  " + "  ".join(cells))
    say(
        f"\ntotal: {opened} page visits over {len(ROLES)} roles, {len(results)} pages, {failed} failed"
    )
    for path, by_role in results.items():
        for role, visit in by_role.items():
            for problem in visit.problems:
                say(f"  FAIL {path} as {role}: {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
