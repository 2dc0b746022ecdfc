"""A real headless browser for the report tests: Debian's Chromium, driven through Playwright.

`browser.open(path)` loads a page from file:// and records, from before navigation, what a
reader's browser would complain about (console errors, uncaught exceptions) and every request
the page made. Anything that is not file:, data:, blob: or about: is aborted and listed in
`outside`, so a page that tries the network is caught and nothing leaves the machine."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LOCAL = ("file:", "data:", "blob:", "about:")
BOKEH_READY = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"


def not_blank(png_path) -> bool:
    """Whether a screenshot shows something: the colour channels' std above 0.02."""
    from matplotlib.image import imread

    pixels = imread(Path(png_path))
    return pixels.shape[0] > 0 and float(pixels[..., :3].std()) > 0.02


@dataclass
class PageCheck:
    """One page opened in its own browser context, with what it logged and requested."""

    page: Any
    context: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    not_blank = staticmethod(not_blank)

    def screenshot(self, path) -> Path:
        path = Path(path)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def evaluate(self, js: str, arg: Any = None) -> Any:
        return self.page.evaluate(js) if arg is None else self.page.evaluate(js, arg)

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None

    def __enter__(self) -> PageCheck:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Browser:
    """The session's Chromium; `open` gives a fresh context (no shared cache or storage)."""

    not_blank = staticmethod(not_blank)

    def __init__(self, chromium):
        self.chromium = chromium
        self._checks: list[PageCheck] = []

    def open(self, path: Path, width: int = 1300, height: int = 1400, *,
             bokeh: bool | None = None, timeout_ms: int = 30_000,
             settle_ms: int = 500) -> PageCheck:
        """Load `path` and wait for it: the load event, then (if the page has Bokeh, or
        bokeh=True) until Bokeh has a document, then network idle and `settle_ms`."""
        context = self.chromium.new_context(viewport={"width": width, "height": height},
                                            service_workers="block")
        page = context.new_page()
        check = PageCheck(page=page, context=context)
        self._checks.append(check)

        def console(message):
            if message.type == "error":
                check.console_errors.append(message.text)

        def guard(route):
            url = route.request.url
            if url.startswith(LOCAL):
                route.continue_()
            else:
                check.outside.append(url)
                route.abort("blockedbyclient")

        def socket(ws):  # web sockets bypass `route`: list them (and refuse them, below)
            if ws.url not in check.outside:
                check.outside.append(ws.url)

        page.on("console", console)
        page.on("pageerror", lambda error: check.page_errors.append(str(error)))
        page.on("request", lambda request: check.requests.append(request.url))
        page.on("websocket", socket)
        context.route("**/*", guard)
        if hasattr(context, "route_web_socket"):  # Playwright >= 1.48
            context.route_web_socket("**/*", lambda ws: (socket(ws), ws.close()))

        page.goto(Path(path).resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        if bokeh is None:
            bokeh = page.evaluate("() => window.Bokeh !== undefined")
        if bokeh:
            try:
                page.wait_for_function(BOKEH_READY, timeout=timeout_ms)
            except Exception as error:
                raise AssertionError(f"Bokeh did not render {path} within {timeout_ms} ms "
                                     f"(page errors: {check.page_errors}, console errors: "
                                     f"{check.console_errors})") from error
        try:
            page.wait_for_load_state("networkidle", timeout=min(timeout_ms, 5_000))
        except Exception:  # a page still polling something: the settle below must do
            pass
        page.wait_for_timeout(settle_ms)
        return check

    def close(self) -> None:
        for check in self._checks:
            check.close()
        self._checks.clear()


def launch_error(error: Exception) -> str:
    """The launch error's first line, and the browser's own first complaint where Playwright
    logged one (the first line alone is often just "Target ... has been closed")."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    said = next((line.split("[err]", 1)[1].strip() for line in lines if "[err]" in line), "")
    return f"{lines[0]} ({said})" if said else lines[0]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the system's) through Playwright's sync API; skips when either is
    missing or Chromium will not start."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium installed (Debian: chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright not installed")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable, headless=True,
                # root in CI: no sandbox; and no name resolution at all, so even a request the
                # route guard missed could not leave the machine
                args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--host-resolver-rules=MAP * ~NOTFOUND"])
        except Exception as error:
            pytest.skip(f"Chromium did not launch: {launch_error(error)}")
        session = Browser(chromium)
        try:
            yield session
        finally:
            session.close()
            chromium.close()


@pytest.fixture(scope="session")
def digits_results(tmp_path_factory):
    """One small real run (Digits-MAJ, smoke profile) with its results folder: index.html,
    heatmaps and explorer pages; attention is unsupported on its models (a missing map)."""
    import rnnxbench

    root = tmp_path_factory.mktemp("digits-run")
    result = rnnxbench.run_suite("digits", "smoke", cache_dir=root / "cache",
                                 results_dir=root / "results",
                                 explainers=["sa", "lrp", "attention"],
                                 metrics=["cosine", "relevance_mass"], progress=False)
    return root / "results" / "digits", result
