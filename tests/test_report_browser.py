"""The report in a real browser: Debian's chromium, headless, driven by Playwright.

Checks what only a browser can tell: no console error, no request leaves the file (only
``file:`` and ``data:`` URLs), every image decodes, every plotly figure draws, the table
sorter works, and nothing from the XSS payloads in names runs (they would set
``window.__xss``). Playwright drives the system chromium (``executable_path``), so no
browser is downloaded (``playwright install`` is never needed).

Needs ``apt-get install chromium`` and ``pip install playwright``. Missing either fails the
test with that message (CI installs both); ``AUTODL_SKIP_BROWSER=1`` skips it instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from test_report import PLOTLY_MARKER, XSS_NAME, leaderboard_numbers, make_run

from autodl.reporting import write_report

pytestmark = pytest.mark.browser
logger = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
]
#: Sanity bound only: the issue's target (under 2 s) is reported, not asserted, because CI
#: machines are shared and slow.
MAX_LOAD_SECONDS = 20.0


def _chromium() -> str:
    if os.environ.get("AUTODL_SKIP_BROWSER") == "1":
        pytest.skip("AUTODL_SKIP_BROWSER=1: browser tests skipped on request")
    path = os.environ.get("AUTODL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "chromium is not installed: run `apt-get install chromium` (Debian) or "
            "set AUTODL_SKIP_BROWSER=1 to skip the browser tests."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(
            "Playwright is not installed: run `pip install playwright` (the test "
            "extra; no `playwright install` needed) or set AUTODL_SKIP_BROWSER=1."
        )
    return path


@pytest.fixture(scope="module")
def browser() -> Any:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _open(browser: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    """Load ``path`` offline, recording console errors and every request."""
    context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen: dict[str, Any] = {"errors": [], "requests": [], "blocked": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(f"uncaught: {e}"))
    page.on("request", lambda r: seen["requests"].append(r.url))

    def block(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            seen["blocked"].append(url)
            route.abort()

    page.route("**/*", block)
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    seen["load_s"] = time.perf_counter() - start
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
                 .every(d => d._fullLayout && d.querySelector('.main-svg'))""",
        timeout=MAX_LOAD_SECONDS * 1000,
    )
    seen["figures_s"] = time.perf_counter() - start
    seen["navigation"] = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {load: n.loadEventEnd, dom: n.domContentLoadedEventEnd}; })()"
    )
    return page, seen


def _check_clean(page: Any, seen: dict[str, Any]) -> None:
    assert not seen["errors"], seen["errors"]
    assert not seen["blocked"], f"requests left the file: {seen['blocked']}"
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert page.evaluate("typeof window.__xss") == "undefined", "an XSS payload ran"


@pytest.mark.parametrize("backend", ["optuna", "kerastuner"])
def test_report_in_chromium(browser: Any, tmp_path: Path, backend: str) -> None:
    run_dir = make_run(tmp_path, "xss-run", name=XSS_NAME, n_trials=50, backend=backend, study=backend == "optuna")
    report = write_report(run_dir)
    text = report.read_text(encoding="utf-8")
    assert text.count(PLOTLY_MARKER) == 1
    page, seen = _open(browser, report)
    try:
        _check_clean(page, seen)
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == text.count("<img ") and len(images) > 10
        assert all(complete and width > 0 for complete, width in images), images
        n_figures = page.evaluate("document.querySelectorAll('.plotly-graph-div').length")
        assert n_figures == text.count("Plotly.newPlot") >= 7
        assert page.title() == f"autodl report: {XSS_NAME}"
        assert page.inner_text("#run-name") == XSS_NAME  # shown as text, not run

        # The sorter: click "trial" to sort by trial number, click again to reverse.
        assert _row_numbers(page) == leaderboard_numbers(text)
        page.click("#leaderboard-table th:nth-child(2)")
        assert _row_numbers(page) == list(range(50))
        page.click("#leaderboard-table th:nth-child(2)")
        assert _row_numbers(page) == list(range(49, -1, -1))
        _check_clean(page, seen)

        page.screenshot(path=str(tmp_path / f"report-{backend}.png"), full_page=True)
        assert seen["load_s"] < MAX_LOAD_SECONDS
        timings = {
            "report_bytes": report.stat().st_size,
            "load_event_ms": round(seen["navigation"]["load"]),
            "figures_rendered_ms": round(1000 * seen["figures_s"]),
        }
        (tmp_path / "timings.json").write_text(json.dumps(timings), encoding="utf-8")
        logger.info("50-trial %s report: %s", backend, timings)  # -o log_cli=true shows it
    finally:
        page.context.close()


def _row_numbers(page: Any) -> list[int]:
    return [
        int(n)
        for n in page.eval_on_selector_all("#leaderboard-table tbody tr", "rows => rows.map(r => r.dataset.trial)")
    ]


def test_index_in_chromium(browser: Any, tmp_path: Path) -> None:
    make_run(tmp_path, '<img src=x onerror="window.__xss=4">', name=XSS_NAME, n_trials=3, evaluation=False, model=False)
    write_report(make_run(tmp_path, "plain", n_trials=3, evaluation=False, model=False, created="2020-01-01T00:00:00"))
    page, seen = _open(browser, tmp_path / "index.html")
    try:
        _check_clean(page, seen)
        assert page.eval_on_selector_all("tr.run-row", "rows => rows.length") == 2
        page.click("a[href='plain/report.html']")
        page.wait_for_load_state("load")
        assert page.url.endswith("/plain/report.html")
        _check_clean(page, seen)
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
    finally:
        page.context.close()


def test_report_of_a_real_search_in_chromium(browser: Any, tmp_path: Path) -> None:
    """The report a real (short) search writes: trained models, real curves and mistakes."""
    import autodl

    search = autodl.run_search(
        dataset="digits", subset=400, trials=3, epochs=2, seed=0, out=str(tmp_path), name="real-search"
    )
    report = search.path / "report.html"
    assert report.is_file()  # written by the search itself, not by this test
    text = report.read_text(encoding="utf-8")
    page, seen = _open(browser, report)
    try:
        _check_clean(page, seen)
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == text.count("<img ") > 0  # misclassified digits and dataset samples
        assert all(complete and width > 0 for complete, width in images), images
        assert page.evaluate("document.querySelectorAll('.plotly-graph-div').length") == text.count("Plotly.newPlot")
        assert len(_row_numbers(page)) == 3
        page.screenshot(path=str(tmp_path / "report-real-search.png"), full_page=True)
        assert (tmp_path / "report-real-search.png").stat().st_size > 10_000
    finally:
        page.context.close()
