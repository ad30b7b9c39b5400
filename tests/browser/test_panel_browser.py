"""The panel as a person sees it, in JupyterLab 4 and Notebook 7 inside Debian's Chromium.

One notebook per app: a ticker's panel must turn OPEN and grow while another cell sleeps, and
show the same state in its two views; an echo socket's panel sends what is typed in its send
box, shows the echo, a hex dump, pretty JSON and hostile markup as text, closes with 1000 and
reconnects. Nothing the page loads may leave loopback. Screenshots go to artifacts/browser/;
JupyterLab's picture of the ticker's panel replaces docs/images/panel.png (the README's) only
when IPYWS_UPDATE_README_IMAGE=1, so a test run leaves the checkout clean.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.harness import (
    open_notebook,
    prompts,
    run_all_cells,
    wait_all_executed,
    wait_cell_running,
    write_notebook,
)

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "panel.png"

SLEEP_CELL = 3  # after the cell that names RELEASE
CELLS = [
    # Demo servers inside the kernel, on 127.0.0.1.
    "from ipyws import WebSocket, demo\n"
    "from ipyws.widgets import panel\n"
    "ticker = demo.start('ticker', rate=20)\n"
    "echo = demo.start('echo')",
    # The socket as the cell's value shows its panel (the class only helps the selectors).
    "feed = WebSocket(ticker.url)\npanel(feed).add_class('t-feed')\nfeed",
    # A cell that blocks the kernel's main thread until the test creates RELEASE (or a minute
    # passed): the panel must move meanwhile, however long a busy machine takes to show it.
    "import os, time\ndeadline = time.monotonic() + 60\n"
    "while not os.path.exists(RELEASE) and time.monotonic() < deadline:\n"
    "    time.sleep(0.05)",
    "box = WebSocket(echo.url)\npanel(box).add_class('t-echo')\nbox",
    # The same socket once more: a second view of the same panel. And a binary message.
    "display(feed)\nbox.wait_open(timeout=20)\nbox.send(bytes(range(40)))",
]

HOSTILE = [
    '<img src=x onerror="window.__ipyws_pwned = 1">',
    "<script>window.__ipyws_pwned = 2</script>",
]


def count_rows(panel: Any) -> int:
    """Read how many rows a panel's log holds (its count, not the rows drawn)."""
    text = panel.locator(".ipyws-count").inner_text()
    return int(text.split()[0].replace(",", ""))


def messages_in(panel: Any) -> int:
    """Read the panel's received-messages counter."""
    text = panel.locator(".ipyws-stat-in .ipyws-value").inner_text()
    return int(text.split("·")[0].replace(",", "").strip())


def send(panel: Any, text: str) -> None:
    """Type ``text`` into the send box and press Send."""
    panel.locator(".ipyws-send-input").fill(text)
    panel.locator(".ipyws-send").click()


def received_row(panel: Any, text: str) -> Any:
    """Return the received row whose preview is exactly ``text``."""
    return panel.locator(".ipyws-rows .ipyws-row[data-dir='received']").filter(
        has=panel.page.locator(".ipyws-c-data", has_text=re.compile("^" + re.escape(text) + "$"))
    )


def test_live_panel(jupyter_server: Any, tab: Any, artifacts: Path) -> None:
    """Live while a cell sleeps; send, echo, JSON, hostile text and close work; loopback only."""
    page = tab.page
    app = jupyter_server.app
    name = f"panel-{uuid.uuid4().hex[:8]}.ipynb"
    release = jupyter_server.root / f"release-{uuid.uuid4().hex[:8]}"
    write_notebook(jupyter_server.root / name, [f"RELEASE = {str(release)!r}", *CELLS])
    open_notebook(page, jupyter_server, name)
    run_all_cells(page)

    # The ticker's panel turns OPEN and its log grows while the next cell sleeps.
    wait_cell_running(page, SLEEP_CELL)
    feed = page.locator(".t-feed .ipyws-panel").first
    expect(feed.locator(".ipyws-badge")).to_have_text("OPEN", timeout=10_000)
    # The saved snapshot (for exports) is in the page, hidden while the panel renders.
    saved = page.locator(".ipyws-saved-snapshot")
    assert saved.count() >= 1
    expect(saved.first).to_be_hidden()
    expect(feed.locator(".ipyws-rows .ipyws-row").first).to_be_visible()
    rows_before, counted_before = count_rows(feed), messages_in(feed)
    # Read again once both grew (bounded; the sleeping cell runs until released).
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and (
        count_rows(feed) < rows_before + 5 or messages_in(feed) < counted_before + 5
    ):
        page.wait_for_timeout(50)
    rows_after, counted_after = count_rows(feed), messages_in(feed)
    assert prompts(page)[SLEEP_CELL] == "[*]:", "the sleeping cell ended before the second read"
    assert rows_after >= rows_before + 5, f"log: {rows_before} -> {rows_after} rows"
    assert counted_after >= counted_before + 5, f"in: {counted_before} -> {counted_after}"
    first_time = feed.locator(".ipyws-rows .ipyws-row .ipyws-c-time").first.inner_text()
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", first_time), first_time
    release.touch()

    wait_all_executed(page, len(CELLS) + 1)

    # Displayed twice, the socket shows one live state in both places.
    expect(page.locator(".t-feed .ipyws-panel")).to_have_count(2)
    page.wait_for_function(
        """() => {
          const views = [...document.querySelectorAll('.t-feed .ipyws-panel')].map(p => [
            p.querySelector('.ipyws-stat-in .ipyws-value').textContent,
            p.querySelector('.ipyws-count').textContent,
            p.querySelector('.ipyws-rows .ipyws-row:last-child').dataset.id]);
          return views.length === 2 && views[0].join() === views[1].join();
        }""",
        timeout=10_000,
    )

    # The echo socket: what is typed goes out and comes back as a received row.
    box = page.locator(".t-echo .ipyws-panel")
    expect(box.locator(".ipyws-badge")).to_have_text("OPEN")
    box.locator(".ipyws-send-input").fill("hello from the browser")
    expect(box.locator(".ipyws-hint")).to_have_text("text (not JSON)")
    box.locator(".ipyws-send").click()
    expect(received_row(box, "hello from the browser")).to_have_count(1)

    # Binary data shows as a hex dump.
    binary = box.locator(".ipyws-rows .ipyws-row[data-dir='received'][data-type='binary']")
    expect(binary).to_have_count(1)
    binary.click()
    expect(box.locator(".ipyws-detail-body")).to_contain_text(
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................"
    )
    expect(box.locator(".ipyws-detail-meta")).to_contain_text("received · binary")

    # JSON gets a validity hint and a pretty-printed detail view.
    box.locator(".ipyws-send-input").fill('{"op": "subscribe", "symbol": "ACME"}')
    expect(box.locator(".ipyws-hint")).to_have_text("✓ valid JSON")
    box.locator(".ipyws-send").click()
    json_row = received_row(box, '{"op": "subscribe", "symbol": "ACME"}')
    json_row.click()
    expect(box.locator(".ipyws-detail-body")).to_have_text(
        '{\n  "op": "subscribe",\n  "symbol": "ACME"\n}'
    )
    expect(box.locator(".ipyws-detail-meta")).to_contain_text("received · text")

    # Markup a server sends back is shown literally and runs nothing.
    for text in HOSTILE:
        send(box, text)
        expect(received_row(box, text)).to_have_count(1)
    received_row(box, HOSTILE[0]).click()
    expect(box.locator(".ipyws-detail-body")).to_have_text(HOSTILE[0])
    assert page.evaluate("() => window.__ipyws_pwned") is None
    assert page.locator(".ipyws-panel img, .ipyws-panel script").count() == 0

    # Close with a code and a reason.
    box.locator(".ipyws-close-code").fill("1000")
    box.locator(".ipyws-close-reason").fill("done")
    box.locator(".ipyws-close").click()
    expect(box.locator(".ipyws-badge")).to_have_text("CLOSED")
    expect(box.locator(".ipyws-closeinfo")).to_have_text(
        '1000 Normal Closure · reason "done" · wasClean: true'
    )
    expect(box.locator(".ipyws-rows .ipyws-row[data-type='close']")).to_have_count(1)

    # Reconnect: a new connection to the same URL, in the same panel.
    box.locator(".ipyws-reconnect").click()
    expect(box.locator(".ipyws-conn")).to_have_text("connection #2")
    expect(box.locator(".ipyws-badge")).to_have_text("OPEN")
    expect(box.locator(".ipyws-rows .ipyws-row[data-type='reconnect']")).to_have_count(1)
    send(box, "after the reconnect")
    expect(received_row(box, "after the reconnect")).to_have_count(1)
    box.screenshot(path=str(artifacts / f"echo-{app}.png"))

    # The ticker's panel, still live, with a message selected: the README's picture.
    feed.locator(".ipyws-rows .ipyws-row[data-dir='received']").last.click()
    expect(feed.locator(".ipyws-detail-body")).to_contain_text('"type": "tick"')
    feed.scroll_into_view_if_needed()
    shot = artifacts / f"panel-{app}.png"
    feed.screenshot(path=str(shot))
    if app == "lab" and os.environ.get("IPYWS_UPDATE_README_IMAGE") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_IMAGE)

    assert page.evaluate("() => window.__ipyws_pwned") is None
    assert tab.requests, "no requests were recorded"
    assert tab.outside_loopback() == [], tab.outside_loopback()
    # The module runs from a blob: URL; an error of ours would name it (or ipyws).
    ours = [e for e in tab.console_errors if "blob:" in e or "ipyws" in e]
    assert ours == [], ours


FIREHOSE_CELLS = [
    "from ipyws import WebSocket, demo\n"
    "from ipyws.widgets import panel\n"
    "ticker = demo.start('ticker', rate=3000)",
    # One message far back in a big transcript, then thousands of ticks after it.
    "fire = WebSocket(ticker.url, log_size=100_000)\n"
    "fire.wait_open(20)\n"
    "fire.send('needle-7f3a')\n"
    "panel(fire).add_class('t-fire')\n"
    # Where the needle landed: how many ticks came first depends on the machine's speed.
    "print('needle at', next(r['seq'] for r in fire.transcript.records() if r['type'] == 'send'))\n"
    "fire",
]
FAR_BACK = 15_000  # rows after the needle before the search starts
MAX_DRAWN = 60  # rows the virtualized list may hold in the DOM, whatever the log holds

_DRAWN_JS = """() => [...document.querySelectorAll('.t-fire .ipyws-rows .ipyws-row')]
    .map(r => r.dataset.id === undefined ? null : Number(r.dataset.id))"""


def drawn(page: Any) -> list[int | None]:
    """Return the ids of the rows the firehose's list holds in the DOM (None: still loading)."""
    return list(page.evaluate(_DRAWN_JS))


def test_log_in_a_firehose(jupyter_server: Any, tab: Any, artifacts: Path) -> None:
    """In a firehose the DOM stays small, scrolled-to rows are fetched, a filter finds old ones."""
    page = tab.page
    asked: list[str] = []  # what the page asked the kernel for (custom messages)

    def on_frame(payload: str | bytes) -> None:
        """Keep the panel's requests among the frames the page sends to the kernel."""
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        asked.extend(re.findall(r'"action":"(\w+)"', text))

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    name = f"firehose-{uuid.uuid4().hex[:8]}.ipynb"
    write_notebook(jupyter_server.root / name, FIREHOSE_CELLS)
    open_notebook(page, jupyter_server, name)
    run_all_cells(page)
    wait_all_executed(page, len(FIREHOSE_CELLS))
    fire = page.locator(".t-fire .ipyws-panel")
    expect(fire.locator(".ipyws-badge")).to_have_text("OPEN")
    said = page.locator(".jp-OutputArea-output", has_text="needle at").first.inner_text()
    needle_at = int(said.split("needle at")[1].split()[0])
    page.wait_for_function(
        """(n) => parseInt(document.querySelector('.t-fire .ipyws-count').textContent
              .replace(/,/g, '')) > n""",
        arg=needle_at + FAR_BACK,
        timeout=120_000,
        polling=200,
    )
    assert len(drawn(page)) <= MAX_DRAWN, drawn(page)

    # Scrolled a third of the way up, the rows there come from the kernel, in order.
    page.evaluate(
        """() => { const l = document.querySelector('.t-fire .ipyws-rows');
                   l.scrollTop = l.scrollHeight / 3; }"""
    )
    # A row clicked while it is still loading is selected all the same.
    clicked = page.wait_for_function(
        """() => { const p = document.querySelector('.t-fire .ipyws-pending[data-pending]');
                   if (!p) return null; p.click(); return Number(p.dataset.pending); }""",
        timeout=30_000,
    ).json_value()
    expect(fire.locator(".ipyws-detail-meta")).to_contain_text(re.compile(rf"seq {clicked}\b"))
    expect(fire.locator(".ipyws-detail-body")).to_contain_text('"type": "tick"')
    page.wait_for_function(
        f"() => {{ const ids = ({_DRAWN_JS})(); return ids.length > 10 && !ids.includes(null); }}",
        timeout=30_000,
    )
    ids = [i for i in drawn(page) if i is not None]
    assert ids == list(range(ids[0], ids[0] + len(ids))), ids
    assert ids[-1] < count_rows(fire) - 5_000, "the view did not stay where it was scrolled"
    assert "fetch" in asked
    row = fire.locator(f".ipyws-rows .ipyws-row[data-id='{ids[len(ids) // 2]}']")
    expect(row.locator(".ipyws-c-data")).to_contain_text('"type": "tick"')
    row.click()
    expect(fire.locator(".ipyws-detail-body")).to_contain_text('"type": "tick"')
    expect(fire.locator(".ipyws-detail-meta")).to_contain_text("received · text · ")
    assert len(drawn(page)) <= MAX_DRAWN

    # The filter runs in the kernel over the whole transcript: the needle is 15,000 rows back.
    fire.locator(".ipyws-filter").fill("needle-7f3a")
    needle = fire.locator(".ipyws-rows .ipyws-row[data-dir='sent']").filter(has_text="needle-7f3a")
    expect(needle).to_have_count(1, timeout=30_000)
    assert "filter" in asked
    assert int(needle.get_attribute("data-id") or -1) == needle_at, "not the needle far back"
    expect(fire.locator(".ipyws-count")).to_have_text("1 matches", timeout=30_000)
    needle.click()
    expect(fire.locator(".ipyws-detail-body")).to_have_text("needle-7f3a")
    expect(fire.locator(".ipyws-detail-meta")).to_contain_text("sent · text")
    fire.screenshot(path=str(artifacts / f"firehose-filter-{jupyter_server.app}.png"))

    # Without the filter the view follows the feed again, from the bottom.
    fire.locator(".ipyws-filter").fill("")
    expect(fire.locator(".ipyws-count")).to_contain_text("rows")
    page.wait_for_function(
        f"(n) => {{ const ids = ({_DRAWN_JS})(); return ids.length && ids[ids.length - 1] > n; }}",
        arg=count_rows(fire),
        timeout=30_000,
    )

    # Paused, the view keeps its rows while the feed goes on and counts what is new.
    fire.locator(".ipyws-pause").click()
    expect(fire.locator(".ipyws-count")).to_contain_text("paused")
    page.wait_for_function(f"() => !({_DRAWN_JS})().includes(null)", timeout=30_000)
    frozen = drawn(page)
    page.wait_for_function(
        """() => /paused · [1-9][0-9,]{3,} new/.test(
              document.querySelector('.t-fire .ipyws-count').textContent)""",
        timeout=60_000,
    )
    assert drawn(page) == frozen
    fire.locator(".ipyws-pause").click()
    page.wait_for_function(
        f"(n) => {{ const ids = ({_DRAWN_JS})(); return ids.length && ids[ids.length - 1] > n; }}",
        arg=max(i for i in frozen if i is not None),
        timeout=30_000,
    )
    assert len(drawn(page)) <= MAX_DRAWN
    ours = [e for e in tab.console_errors if "blob:" in e or "ipyws" in e]
    assert ours == [], ours
