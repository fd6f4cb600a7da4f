"""Browser tests: the real app served by `streamlit run`, driven in Debian's Chromium through Playwright.

Skipped as a whole when Chromium or the `playwright` package is missing. Run them alone with
`pytest tests/browser`, or leave them out with `pytest -m "not browser"`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "test-results"
import _common  # noqa: E402  (benchmarks/, on the path by pytest's config: it serves the app for the benchmarks too)

SERVER_START_TIMEOUT = 90  # seconds; the server imports streamlit before it answers /_stcore/health


def _skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None or importlib.util.find_spec("pytest_playwright") is None:
        return "browser tests need the playwright and pytest-playwright packages (see requirements.txt)"
    if _common.find_chromium() is None:
        return "browser tests need Chromium at /usr/bin/chromium (apt-get install chromium chromium-driver)"
    return None


SKIP_REASON = _skip_reason()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the served app in Chromium (needs chromium + playwright)")
    # pytest-playwright 0.10's session-scoped `base_url` fixture trips a pytest 9 deprecation notice.
    config.addinivalue_line(
        "filterwarnings", "ignore:Session-scoped fixtures defined as instance methods:pytest.PytestRemovedIn10Warning"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if SKIP_REASON:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


# --- Playwright settings -------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": _common.find_chromium(), "args": _common.CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # Tall, so that whole pages fit in one screenshot (the main area scrolls, not the window).
    return {**browser_context_args, "viewport": {"width": 1400, "height": 2000}, "accept_downloads": True}


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(page, request: pytest.FixtureRequest):
    """Playwright's page, with a full-page screenshot in test-results/ when the test fails. Assertions
    wait up to 15 s (Playwright's 5 s is too short for a page still drawing on a busy 2-core machine;
    an assertion that holds returns at once)."""
    from playwright.sync_api import expect

    page.set_default_timeout(30_000)
    expect.set_options(timeout=15_000)
    yield page
    failed = any(getattr(request.node, f"rep_{when}", None) and getattr(request.node, f"rep_{when}").failed
                 for when in ("setup", "call"))
    if failed:
        RESULTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid.split("::", 1)[-1])
        try:
            page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True, timeout=15_000)
        except Exception as exc:  # the page may be gone; the failure itself matters more
            print(f"no screenshot: {exc}", file=sys.stderr)


# --- the app under test ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """`streamlit run app.py` on a free port for the whole session; its log goes to test-results/."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    if "delete_output_dir" in request.fixturenames:
        request.getfixturevalue("delete_output_dir")  # pytest-playwright empties test-results/ first
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "streamlit-server.log"
    with open(log_path, "w") as log:
        try:
            with _common.streamlit_server(timeout=SERVER_START_TIMEOUT, log=log) as server:
                yield server.url
        except RuntimeError as exc:  # the server did not come up
            pytest.fail(f"{exc}; see {log_path}")
