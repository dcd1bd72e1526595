"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the gateway as its own process;
screenshots of the main pages are kept under `test-artifacts/screenshots/`."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# `make browser` (a prerequisite of `make test`) installs it; Playwright's own download needs the internet.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
SCREENSHOT_TRIES = 3
SCREENSHOT_TIMEOUT_MS = 15_000


def chromium_path() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("the web page tests need a Chromium: run `make browser` (apt-get install -y chromium); "
                "`playwright install` is not used", pytrace=False)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    """A fresh browser context (no session) on the gateway; any script error on the page fails the test."""
    context: BrowserContext = await browser.new_context(base_url=gateway_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error"
              and "Failed to load resource" not in message.text else None)
    yield opened
    await context.close()
    assert not errors, f"errors on the page: {errors}"


@pytest.fixture(scope="session")
def shoot() -> Callable[[Page, str], Awaitable[Path]]:
    """`await shoot(page, "board")`: a full-page screenshot kept as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        for attempt in range(SCREENSHOT_TRIES):
            # Two animation frames first: a page just resized has painted its new layout before the capture.
            await page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            try:
                await page.screenshot(path=str(path), full_page=True, animations="disabled",
                                      timeout=SCREENSHOT_TIMEOUT_MS)
                break
            except PlaywrightTimeoutError:
                # Headless Chromium at times never delivers the frame a full-page capture waits for (on a busy
                # machine, after a resize): the artifact is taken again; the test's assertions were made before.
                if attempt == SCREENSHOT_TRIES - 1:
                    raise
        return path

    return take


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"web page screenshots: {SCREENSHOTS}")
