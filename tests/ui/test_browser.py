"""The Workloads page in a real browser, inside the real Airflow UI.

``airflow api-server`` runs as its own process on 127.0.0.1 (SQLite metadata DB,
SimpleAuthManager users ``viewer`` and ``admin``) and reaches the seeded fake
cluster in this process over loopback. Headless Chromium from Debian
(``/usr/bin/chromium``, driven by Playwright; never a downloaded browser) opens
the UI's plugin route, where Airflow embeds the page in an iframe under its
navigation. With ``HFINFER_SCREENSHOT=<path>`` the test also writes a
screenshot of the page there (the one in the README came from this).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from page_support import PASSWORDS, Cluster, airflow_environment, closed_port, require_entry_point
from workloads_seed import NS, WORKLOADS

pytestmark = [pytest.mark.airflow_e2e, pytest.mark.timeout(400)]

CHROMIUM = "/usr/bin/chromium"
ROUTE = "/plugin/inference-workloads"


def _browser_or_skip() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (the dev extra has it)")
    return sync_playwright


@dataclass
class Server:
    """An ``airflow api-server`` process and tokens of its users."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def token(self, user: str) -> str:
        body = json.dumps({"username": user, "password": PASSWORDS[user]}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return str(json.loads(answer.read())["access_token"])


def _wait_until_up(server: Server, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail("airflow api-server exited:\n" + server.log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{server.url}/api/v2/monitor/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail("airflow api-server did not answer:\n" + server.log.read_text()[-3000:])


@pytest.fixture
def api_server(cluster: Cluster, tmp_path: Path) -> Iterator[Server]:
    """``airflow api-server`` on a free loopback port, with the page's config."""
    require_entry_point()
    home = tmp_path / "airflow"
    home.mkdir()
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(airflow_environment(cluster.server, tmp_path))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    log = tmp_path / "api-server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*airflow, "api-server", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (no sandbox: the tests run as root in CI)."""
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: Any, server: Server, user: str) -> tuple[Any, Any]:
    """The Airflow UI at the page's route, signed in as ``user``; (page, the iframe)."""
    context = browser.new_context(viewport={"width": 1440, "height": 810})
    context.add_cookies([{"name": "_token", "value": server.token(user), "url": server.url}])
    page = context.new_page()
    page.goto(f"{server.url}{ROUTE}")
    frame = page.frame_locator("iframe")
    frame.locator("tr[data-workload]").first.wait_for(timeout=60_000)
    return page, frame


def _phases(frame: Any) -> dict[str, str]:
    rows = frame.locator("tr[data-workload]")
    found = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        name = row.get_attribute("data-workload").rsplit("/", 1)[1]
        found[name] = row.locator("td.phase .badge").inner_text()
    return found


def test_a_viewer_sees_the_workloads_and_filters_them_but_has_no_actions(
    browser: Any, api_server: Server
) -> None:
    page, frame = _open(browser, api_server, "viewer")
    assert page.get_by_text("Inference workloads").first.is_visible()  # the nav entry
    assert _phases(frame) == {item.name: item.phase for item in WORKLOADS}
    crash = frame.locator(f"tr[data-workload$='/{NS}/chat-crash']")
    assert "CrashLoopBackOff" in crash.locator("td.phase").inner_text()
    assert frame.locator("button[data-action]").count() == 0
    errors = frame.locator("#errors").inner_text()
    assert "team-b: Forbidden (HTTP 403)" in errors and "may not list pods" in errors
    assert "broken_kube" in errors and "cannot reach" in errors

    frame.locator("#f-phase").select_option("Pending")
    assert sorted(_phases(frame)) == ["chat-quota", "chat-unschedulable"]
    frame.locator("#f-phase").select_option("")
    frame.locator("#f-dag").select_option("nightly_eval")
    assert sorted(_phases(frame)) == ["chat-crash", "chat-oom"]
    frame.locator("#f-dag").select_option("")
    frame.locator("th[data-key=name]").click()  # sorted by name: a second click reverses
    names = list(_phases(frame))
    assert names == sorted(names, reverse=True)

    crash = frame.locator(f"tr[data-workload$='/{NS}/chat-crash']")
    link = crash.locator("a[target=_top]")
    assert link.get_attribute("href").startswith("/dags/nightly_eval/runs/manual__")
    crash.locator("a[data-action=detail]").click()
    tail = frame.locator("#log-tail")
    tail.wait_for(timeout=30_000)
    assert "ValueError" in tail.inner_text() and "hf_Leaked" not in tail.inner_text()

    # The DAG link opens the task instance in the Airflow UI around the iframe.
    link.click()
    page.wait_for_url("**/dags/nightly_eval/runs/manual__*/tasks/deploy", timeout=30_000)


def test_an_admin_deletes_a_workload_after_confirming(
    browser: Any, api_server: Server, cluster: Cluster
) -> None:
    page, frame = _open(browser, api_server, "admin")
    if target := os.environ.get("HFINFER_SCREENSHOT"):
        page.screenshot(path=target)
    row = frame.locator(f"tr[data-workload$='/{NS}/chat-oom']")
    row.locator("button[data-action=delete]").click()
    dialog = frame.locator("dialog#confirm")
    assert dialog.is_visible() and "Delete workload chat-oom" in dialog.inner_text()
    frame.locator("#confirm-cancel").click()
    assert cluster.server.get_object("apps/v1", "deployments", NS, "chat-oom") is not None
    assert row.count() == 1

    row.locator("button[data-action=delete]").click()
    frame.locator("#confirm-ok").click()
    row.wait_for(state="detached", timeout=30_000)
    assert cluster.server.get_object("apps/v1", "deployments", NS, "chat-oom") is None
    assert "deleted" in frame.locator("#notice").inner_text()
    assert frame.locator("tr[data-workload]").count() == len(WORKLOADS) - 1
    page.context.close()
