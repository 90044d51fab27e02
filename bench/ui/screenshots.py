"""Screenshots of the main pages for the README and the user guide (docs/screenshots/).

Builds a throw-away SQLite demo (seed_demo, the published demo scoring model, handover demo, a
few MQLs handed over, report rollups),
starts `manage.py runserver` on 127.0.0.1, and drives Debian's Chromium with Playwright:

    .venv/bin/python bench/ui/screenshots.py            # writes docs/screenshots/*.png
    LEADFLOW_SHOTS=gdpr-request,audit-log .venv/bin/python bench/ui/screenshots.py  # only these

Nothing leaves the machine; the server is stopped at the end.
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PORT = int(os.environ.get("LEADFLOW_SCREENSHOT_PORT", "8765"))
CHROMIUM = os.environ.get("LEADFLOW_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "leadflow-demo"  # noqa: S105 (the demo accounts' documented password)


def prepare(env: dict[str, str]) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    for args in (
        ["migrate", "-v0"],
        ["seed_demo", "--leads", "400"],
        ["seed_scoring_demo"],  # publishes the demo model: every lead is scored for real
        ["seed_handover_demo"],
    ):
        subprocess.run([*manage, *args], env=env, check=True, cwd=ROOT)  # noqa: S603
    subprocess.run(  # noqa: S603
        [*manage, "shell", "-c", DEMO_SNIPPET], env=env, check=True, cwd=ROOT
    )
    subprocess.run([*manage, "reports_rebuild"], env=env, check=True, cwd=ROOT)  # noqa: S603


# A few MQLs handed over and accepted, a note and a task, so every page has something to show.
DEMO_SNIPPET = """
from django.utils import timezone
from leads.models import Lead, Note, Task
from leads.services import lead_mark_mql, note_add, task_add
from leadflow.models import User
from handover.services import handover_accept
from handover.models import Handover
for lead in Lead.objects.filter(stage="lead").order_by("-id")[:6]:
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
rep1 = User.objects.get(username="rep1")
first = Handover.objects.filter(status="open", owner=rep1).order_by("id").first()
if first is not None:
    handover_accept(handover_id=first.pk, actor=rep1)
marketer = User.objects.get(username="marketer")
lead = Lead.objects.filter(stage="mql", scored_at__isnull=False).order_by("-score").first()
note_add(lead_id=lead.pk, author=marketer, body="Asked for pricing at the webinar; wants a demo.")
task_add(lead_id=lead.pk, created_by=marketer, title="Send the case study",
         due_at=timezone.now() + timezone.timedelta(days=2))
print("lead for the screenshot:", lead.pk)
open(__import__("os").environ["LEADFLOW_SHOT_LEAD"], "w").write(str(lead.pk))
person = Lead.objects.filter(stage="lead", email__isnull=False).exclude(pk=lead.pk).order_by("id").first()
note_add(lead_id=person.pk, author=marketer, body="Asked us to delete her data (e-mail of 3 Dec).")
open(__import__("os").environ["LEADFLOW_SHOT_LEAD"] + ".email", "w").write(person.email)
"""


def wait_for_server(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own loopback server)
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not start")


WANTED = {n for n in os.environ.get("LEADFLOW_SHOTS", "").split(",") if n}


def snap(page: object, name: str, full_page: bool = False) -> None:
    """docs/screenshots/<name>.png, unless LEADFLOW_SHOTS names others."""
    if not WANTED or name in WANTED:
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)  # type: ignore[attr-defined]


def shoot(base: str, lead_id: str, email: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def session(username: str, width: int = 1440):  # type: ignore[no-untyped-def]
            context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base)
            page = context.new_page()
            page.goto("/accounts/login/")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state("networkidle")
            return context, page

        context, page = session("marketer")
        page.goto("/leads/board/")
        page.wait_for_load_state("networkidle")
        snap(page, "board")
        page.goto(f"/leads/{lead_id}/")
        page.wait_for_load_state("networkidle")
        snap(page, "lead", full_page=True)
        page.goto("/leads/list/?sort=-score")
        page.wait_for_load_state("networkidle")
        snap(page, "list")
        page.goto("/scoring/")
        page.locator("table a").first.click()
        page.wait_for_load_state("networkidle")
        snap(page, "scoring")
        page.goto("/leads/new/")  # a known e-mail: refused, with a link to that lead
        page.get_by_label("First name").fill("Olivia")
        page.get_by_label("E-mail").fill("overdue.mql@demo.test")
        page.get_by_role("button", name="Create lead").click()
        page.wait_for_load_state("networkidle")
        snap(page, "lead-new")
        context.close()

        context, page = session("rep1")
        page.goto("/handover/inbox/")
        page.wait_for_load_state("networkidle")
        snap(page, "inbox")
        row = page.locator(".inbox-row[data-handover]").first
        if row.count():
            row.get_by_role("button", name="Reject…").click()
            page.get_by_label("Reason").select_option("not_ready")
            page.get_by_label("Comment").fill("Budget opens in Q3")
            snap(page, "inbox-reject")
            page.get_by_role("button", name="Cancel").click()
        page.goto("/handover/notifications/")
        page.wait_for_load_state("networkidle")
        snap(page, "notifications")
        context.close()

        context, page = session("manager")
        page.goto("/reports/team/")
        page.wait_for_load_state("networkidle")
        snap(page, "manager")
        page.goto("/handover/inbox/")
        page.wait_for_load_state("networkidle")
        snap(page, "inbox-manager")
        page.locator(".inbox-row[data-handover] a.lead-name").first.click()
        page.wait_for_load_state("networkidle")
        page.locator("#reassign-owner").scroll_into_view_if_needed()
        snap(page, "lead-manager")
        page.goto("/reports/funnel/")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)  # the chart's entry animation
        snap(page, "reports")
        context.close()

        # an admin answers a GDPR request (1280 px wide), then reads the audit log
        context, page = session("admin")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto("/privacy/requests/")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_role("button", name="Find").click()
        page.wait_for_load_state("networkidle")
        with page.expect_download():
            page.locator("#held button").first.click()
        page.get_by_label("Type the e-mail address").fill(email)
        page.get_by_label("Reason (kept in the audit log)").fill("Art. 17 request by e-mail")
        snap(page, "gdpr-request", full_page=True)
        page.locator("#erase-form button[type=submit]").click()
        page.locator("#erased").wait_for()
        page.goto("/privacy/audit/")
        page.wait_for_load_state("networkidle")
        snap(page, "audit-log")
        context.close()

        context, page = session("admin", width=1280)
        shoot_settings(page)
        context.close()
        browser.close()


def shoot_settings(page) -> None:  # type: ignore[no-untyped-def]
    """The Settings area as an admin sees it (SLA policies, in the side navigation)."""
    page.goto("/settings/sla-policies/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / "settings-sla.png"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")
        }
        env.update(
            DATABASE_URL=f"sqlite:///{tmp}/shots.sqlite3",
            CELERY_TASK_ALWAYS_EAGER="1",
            LEADFLOW_SHOT_LEAD=f"{tmp}/lead",
        )
        prepare(env)
        lead_id = Path(f"{tmp}/lead").read_text()
        email = Path(f"{tmp}/lead.email").read_text()
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "runserver",
                "--noreload",
                f"127.0.0.1:{PORT}",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{PORT}"
            wait_for_server(base + "/accounts/login/")
            shoot(base, lead_id, email)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
