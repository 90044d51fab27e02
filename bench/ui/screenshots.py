"""Screenshots of the main pages for the README and the user guide (docs/screenshots/).

Builds a throw-away SQLite demo (seed_demo, the published demo scoring model, handover demo, a
few MQLs handed over, report rollups),
starts `manage.py runserver` on 127.0.0.1, and drives Debian's Chromium with Playwright:

    .venv/bin/python bench/ui/screenshots.py            # writes docs/screenshots/*.png

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


def shoot(base: str, lead_id: str) -> None:
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
        page.screenshot(path=str(OUT / "board.png"))
        page.goto(f"/leads/{lead_id}/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "lead.png"), full_page=True)
        page.goto("/leads/list/?sort=-score")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "list.png"))
        page.goto("/scoring/")
        page.locator("table a").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "scoring.png"))
        page.goto("/leads/new/")  # a known e-mail: refused, with a link to that lead
        page.get_by_label("First name").fill("Olivia")
        page.get_by_label("E-mail").fill("overdue.mql@demo.test")
        page.get_by_role("button", name="Create lead").click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "lead-new.png"))
        context.close()

        context, page = session("rep1")
        page.goto("/handover/inbox/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "inbox.png"))
        row = page.locator(".inbox-row[data-handover]").first
        if row.count():
            row.get_by_role("button", name="Reject…").click()
            page.get_by_label("Reason").select_option("not_ready")
            page.get_by_label("Comment").fill("Budget opens in Q3")
            page.screenshot(path=str(OUT / "inbox-reject.png"))
            page.get_by_role("button", name="Cancel").click()
        page.goto("/handover/notifications/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "notifications.png"))
        context.close()

        context, page = session("manager")
        page.goto("/reports/team/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "manager.png"))
        page.goto("/handover/inbox/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(OUT / "inbox-manager.png"))
        page.locator(".inbox-row[data-handover] a.lead-name").first.click()
        page.wait_for_load_state("networkidle")
        page.locator("#reassign-owner").scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / "lead-manager.png"))
        page.goto("/reports/funnel/")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)  # the chart's entry animation
        page.screenshot(path=str(OUT / "reports.png"))
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
            shoot(base, lead_id)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
