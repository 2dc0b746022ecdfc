"""The browser fixture's checks can fail: a page that logs an error, throws and tries the
network has all of it recorded (and its requests aborted); a clean page records nothing."""

BAD = """<!doctype html><html><head><title>bad</title></head><body>
<p>bad page</p>
<img src="http://example.com/y.png">
<script>console.error("boom");</script>
<script>fetch("https://example.com/x").catch(() => {});</script>
<script>throw new Error("kaboom");</script>
</body></html>"""

CLEAN = """<!doctype html><html><head><title>clean</title></head><body>
<p>clean page</p><div style="height: 600px; background: #3366cc"></div>
<script>console.log("fine");</script></body></html>"""


def test_a_page_that_misbehaves_is_caught(browser, tmp_path):
    path = tmp_path / "bad.html"
    path.write_text(BAD, encoding="utf-8")
    with browser.open(path) as check:
        assert "boom" in check.console_errors
        assert any("kaboom" in error for error in check.page_errors)
        assert sorted(check.outside) == ["http://example.com/y.png", "https://example.com/x"]
        assert path.as_uri() in check.requests
        assert set(check.outside) <= set(check.requests)
        assert check.evaluate("document.title") == "bad"


def test_a_clean_page_records_nothing(browser, tmp_path):
    path = tmp_path / "clean.html"
    path.write_text(CLEAN, encoding="utf-8")
    with browser.open(path) as check:
        assert check.console_errors == [] and check.page_errors == [] and check.outside == []
        assert check.requests == [path.as_uri()]
        assert check.not_blank(check.screenshot(tmp_path / "clean.png"))  # the blue block
        check.evaluate("document.body.innerHTML = ''")
        assert not check.not_blank(check.screenshot(tmp_path / "empty.png"))
