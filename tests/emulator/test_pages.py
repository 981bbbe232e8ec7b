"""The workspace's pages in a real browser: Playwright for Python driving Debian's chromium
(the system binary; nothing downloaded). Open the overview, search a person, open their page,
see their attribute values and events; a hostile attribute value is shown as text, never run.
Also, without a browser: the pages ask for the emulator's credentials, and every page answers."""

from __future__ import annotations

import base64
import shutil
import urllib.error
import urllib.request

import pytest
from helpers.emulated import KEY, SITE, start
from test_workspace import batch, person

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest.fixture
def emu(tmp_path):
    emulator, _ = start(tmp_path)
    batch(emulator.url,
          {**person(id="u1"), "action": "identify",
           "attributes": {"email": "ann@example.com", "plan": "pro", "seats": 3, "bio": HOSTILE}},
          {**person(id="u2"), "action": "identify", "attributes": {"email": "bob@example.com",
                                                                 "seats": "three"}},
          {**person(id="u1"), "action": "event", "name": "signed_up",
           "id": "01HK421P48A5JNX9MRXQF4MRZM", "timestamp": 1_700_000_000},
          {**person(id="u1"), "action": "event", "name": "bought", "timestamp": 1_700_000_500,
           "attributes": {"sku": "A1"}},
          {**person(id="u1"), "action": "add_relationships", "cio_relationships": [
              {"identifiers": {"object_type_id": "1", "object_id": "acme"}}]},
          {"type": "object", "action": "identify",
           "identifiers": {"object_type_id": "1", "object_id": "acme"},
           "attributes": {"name": HOSTILE}})
    yield emulator.url
    emulator.stop()


def get(url: str, auth: str | None = f"{SITE}:{KEY}") -> tuple[int, str, dict]:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} \
        if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_pages_ask_for_the_credentials_and_escape_what_they_show(emu):
    status, _, headers = get(emu + "/", auth=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert get(emu + "/people/u1", auth=f"{SITE}:wrong")[0] == 401
    for path in ("/", "/people", "/people?q=bob", "/people/u1", "/people/ann@example.com",
                 "/objects", "/objects/1/acme", "/requests", "/requests/1", "/findings",
                 "/static/uPlot.iife.min.js"):
        status, text, _ = get(emu + path)
        assert status == 200, path
        assert "<script>window.pwned" not in text, path
    assert get(emu + "/people/nobody")[0] == 404
    status, text, _ = get(emu + "/people/u1")
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in text
    findings = get(emu + "/findings")[1]
    assert "<code>seats</code>: number, string (2 people" in findings  # mixed JSON types


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_a_browser_searches_a_person_and_reads_their_page(emu):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context(
                http_credentials={"username": SITE, "password": KEY}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(emu + "/")
            assert page.locator("[data-key=people]").inner_text() == "2"
            assert page.locator("#chart canvas").count() == 1  # uPlot drew the chart
            page.fill("nav input[name=q]", "ann@")
            page.click("nav button")
            page.click("table >> text=u1")
            assert page.url.endswith("/people/u1")
            rows = page.locator("#attributes tr")
            values = {rows.nth(i).locator("td").nth(0).inner_text():
                      rows.nth(i).locator("td").nth(1).inner_text()
                      for i in range(1, rows.count())}
            assert values == {"email": "ann@example.com", "plan": "pro", "seats": "3",
                              "bio": HOSTILE}  # the hostile value, as text
            assert page.locator("#attributes >> text=number").count() == 1
            events = page.locator("#events li").all_inner_texts()
            assert [e.split(" UTC ")[1].split()[0] for e in events] == ["bought", "signed_up"]
            assert page.evaluate("window.pwned") is None  # nothing from the data ran
            page.click("text=1 / acme")
            assert page.locator("h1").inner_text() == "Object 1 / acme"
            assert page.evaluate("window.pwned") is None
            assert errors == []
        finally:
            browser.close()
