"""The transcript: a bounded, HAR-shaped record of a socket's traffic."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ipyws._transcript
from ipyws import Transcript, WebSocket, load_jsonl

Pair = tuple[WebSocket, Any]


def _filled() -> Transcript:
    transcript = Transcript(10, 8)
    transcript.event("open", protocol="chat", extensions="")
    transcript.sent("héllo", 6)
    transcript.received_batch([b"\x00\xff"])
    transcript.received_batch(["0123456789"])
    transcript.event("close", code=1000, reason="", wasClean=True)
    return transcript


def test_records_shape() -> None:
    """Messages are HAR-like {seq, type, time, opcode, data, size}; lifecycle ones carry fields."""
    records = _filled().records()
    assert [r["type"] for r in records] == ["open", "send", "receive", "receive", "close"]
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert all(isinstance(r["time"], float) for r in records)
    open_, sent, binary, _, close = records
    assert open_.keys() == {"seq", "type", "time", "protocol", "extensions"}
    assert open_["protocol"] == "chat"
    assert {k: sent[k] for k in ("opcode", "data", "size")} == {
        "opcode": 1,
        "data": "héllo",
        "size": 6,
    }
    assert binary["opcode"] == 2
    assert base64.b64decode(binary["data"]) == b"\x00\xff"
    assert (close["code"], close["reason"], close["wasClean"]) == (1000, "", True)


def test_data_is_truncated_but_size_exact() -> None:
    """Data beyond the limit is cut and marked truncated; size stays the real length."""
    text = _filled().records()[3]
    assert (text["data"], text["size"], text["truncated"]) == ("01234567", 10, True)
    assert "truncated" not in _filled().records()[1]


def test_counters() -> None:
    """messages_in/out and bytes_in/out count every message, even ones no longer kept."""
    transcript = Transcript(2)
    for _ in range(5):
        transcript.received_batch(["abc"])
    transcript.sent(b"12", 2)
    assert (transcript.messages_in, transcript.bytes_in) == (5, 15)
    assert (transcript.messages_out, transcript.bytes_out) == (1, 2)


def test_ring_buffer_keeps_the_newest() -> None:
    """Only the newest ``maxlen`` records are kept; seq and total keep counting."""
    transcript = Transcript(3)
    for i in range(5):
        transcript.received_batch([str(i)])
    assert len(transcript) == 3
    assert transcript.maxlen == 3
    assert transcript.total == 5
    assert [r["data"] for r in transcript] == ["2", "3", "4"]
    assert [r["seq"] for r in transcript.records()] == [2, 3, 4]


def test_memory_stays_bounded() -> None:
    """A long feed never keeps more than ``maxlen`` records."""
    transcript = Transcript(100)
    for i in range(10_000):
        transcript.received_batch(["x"])
        assert len(transcript) <= 100 or i < 100
    assert len(transcript) == 100


def test_records_since_and_limit() -> None:
    """records(since=n) keeps seq >= n; limit keeps the newest; limit 0 gives none."""
    transcript = _filled()
    assert [r["seq"] for r in transcript.records(since=3)] == [3, 4]
    assert [r["seq"] for r in transcript.records(limit=2)] == [3, 4]
    assert transcript.records(limit=0) == []


def test_clear_keeps_counters() -> None:
    """clear() drops the records but not the counters or the seq numbering."""
    transcript = _filled()
    transcript.clear()
    assert len(transcript) == 0
    assert transcript.messages_in == 2
    transcript.received_batch(["x"])
    assert transcript.records()[0]["seq"] == 5


def test_maxlen_must_be_positive() -> None:
    """A transcript of fewer than one record is a ValueError."""
    with pytest.raises(ValueError, match="at least 1"):
        Transcript(0)


def test_jsonl_round_trip_file_object() -> None:
    """to_jsonl() writes one JSON object per line; load_jsonl() reads the same records back."""
    transcript = _filled()
    buffer = io.StringIO()
    transcript.to_jsonl(buffer)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 5
    assert all(isinstance(json.loads(line), dict) for line in lines)
    buffer.seek(0)
    assert load_jsonl(buffer) == transcript.records()


def test_jsonl_round_trip_path(tmp_path: Path) -> None:
    """to_jsonl(path) writes UTF-8 (non-ASCII kept) and load_jsonl(path) reads it back."""
    transcript = _filled()
    path = tmp_path / "log.jsonl"
    transcript.to_jsonl(str(path))
    assert "héllo" in path.read_text(encoding="utf-8")
    assert load_jsonl(str(path)) == transcript.records()


def test_to_dataframe() -> None:
    """to_dataframe() has one row per record, the record keys as columns, time as datetimes."""
    pd = pytest.importorskip("pandas")
    frame = _filled().to_dataframe()
    assert len(frame) == 5
    assert {"seq", "type", "time", "opcode", "data", "size", "code"} <= set(frame.columns)
    assert pd.api.types.is_datetime64_any_dtype(frame["time"])
    assert list(frame["type"]) == ["open", "send", "receive", "receive", "close"]


def test_to_dataframe_keeps_integer_fields_integers() -> None:
    """opcode, size and code, missing from some records, are nullable integers, not floats."""
    pytest.importorskip("pandas")
    frame = _filled().to_dataframe()
    assert {str(frame[name].dtype) for name in ("opcode", "size", "code")} == {"Int64"}
    assert frame["size"].isna().tolist() == [True, False, False, False, True]
    assert str(frame.loc[1, "size"]) == str(frame.loc[1, "size"]).split(".")[0]


def test_to_dataframe_empty() -> None:
    """An empty transcript gives an empty DataFrame."""
    pytest.importorskip("pandas")
    assert Transcript().to_dataframe().empty


# -- the socket's transcript ------------------------------------------------------------------


def test_socket_records_its_traffic(open_socket: Pair, on_dispatcher: Callable[..., Any]) -> None:
    """A socket records open, each message sent and received (with sizes) and close."""
    ws, fake = open_socket
    ws.send("¥")
    ws.send(b"\x01\x02\x03")
    fake.receive("hi")
    fake.receive(b"\x00")
    on_dispatcher(ws)
    fake.closed(1000, "done", True)
    records = ws.transcript.records()
    assert [(r["type"], r.get("size")) for r in records] == [
        ("open", None),
        ("send", 2),
        ("send", 3),
        ("receive", 2),
        ("receive", 1),
        ("close", None),
    ]
    assert records[-1]["code"] == 1000 and records[-1]["reason"] == "done"


def test_socket_records_error_before_close(make_socket: Callable[..., Any]) -> None:
    """A failure is recorded as an error record (with the exception's type) before close."""
    ws, fake = make_socket()
    fake.closed(1006, "", False, ConnectionRefusedError("refused"))
    kinds = [(r["type"], r.get("error")) for r in ws.transcript.records()]
    assert kinds == [("error", "ConnectionRefusedError"), ("close", None)]


def test_socket_log_size_bounds_transcript(make_socket: Callable[..., Any]) -> None:
    """The log_size option bounds the socket's transcript."""
    ws, fake = make_socket("ws://example.test/", log_size=2)
    fake.open()
    for i in range(5):
        ws.send(str(i))
    assert ws.transcript.maxlen == 2
    assert [r["data"] for r in ws.transcript] == ["3", "4"]


def test_sent_text_with_lone_surrogate_exports(open_socket: Pair, tmp_path: Path) -> None:
    """Text sent with a lone surrogate is recorded as sent (U+FFFD) and exports to JSON lines."""
    ws, _ = open_socket
    ws.send("a\ud800")
    assert ws.transcript.records()[-1]["data"] == "a\ufffd"
    path = tmp_path / "log.jsonl"
    ws.transcript.to_jsonl(str(path))
    assert load_jsonl(str(path))[-1]["data"] == "a\ufffd"


# -- rates ---------------------------------------------------------------------------------------


class _Clock:
    """Stands in for the transcript's clock: a time the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """The transcript's clock, at 100.0 s until the test moves it."""
    fake = _Clock(100.0)
    monkeypatch.setattr(ipyws._transcript, "_time", fake)
    return fake


def test_rates_count_the_last_second_each_way(clock: _Clock) -> None:
    """rates() gives messages and bytes per second, received then sent, over the last second."""
    transcript = Transcript(10)
    for when, kind, size in [(100.2, "in", 10), (100.5, "out", 4), (101.3, "in", 7)]:
        clock.now = when
        if kind == "in":
            transcript.received_batch(["x" * size])
        else:
            transcript.sent("x" * size, size)
    transcript.event("close", code=1000, reason="", wasClean=True)
    clock.now = 101.5
    assert transcript.rates() == (1.0, 7.0, 1.0, 4.0)


def test_rates_of_a_young_socket_cover_its_life(clock: _Clock) -> None:
    """A transcript younger than the window measures over its age, not the whole second."""
    transcript = Transcript(10)
    clock.now = 100.1
    transcript.received_batch([b"ab"])
    clock.now = 100.25
    assert transcript.rates() == pytest.approx((4.0, 8.0, 0.0, 0.0))


def test_rates_of_a_ring_that_turned_over_measure_what_it_holds(clock: _Clock) -> None:
    """When the ring holds less than the window of a fast feed, its own span is measured."""
    transcript = Transcript(4)
    for step in range(8):
        clock.now = 100.0 + step * 0.1
        transcript.received_batch(["x"])
    clock.now = 100.8
    assert transcript.rates() == pytest.approx((10.0, 10.0, 0.0, 0.0))


def test_tail_and_window_address_records_by_seq() -> None:
    """tail(n) gives the newest n records; a window finds records by seq and stays as it was."""
    transcript = Transcript(5)
    for i in range(8):
        transcript.received_batch([f"m{i}"])
    assert [r["seq"] for r in transcript.tail(2)] == [6, 7]
    assert [r["seq"] for r in transcript.tail(50)] == [3, 4, 5, 6, 7]
    assert transcript.tail(0) == []
    window = transcript.window()
    assert (window.first, window.total, len(window)) == (3, 8, 5)
    transcript.received_batch(["later"])
    assert [r["data"] for r in window.records(0, 100)] == ["m3", "m4", "m5", "m6", "m7"]
    assert [r["seq"] for r in window.records(4, 6)] == [4, 5]
    assert window.records(6, 4) == []
    assert window.get(2) is None and window.get(8) is None
    assert window.get(7) == transcript.records()[-2]
    transcript.clear()
    empty = transcript.window()
    assert (empty.first, empty.total, empty.records(0, 100)) == (9, 9, [])


def test_window_search_pages_from_the_newest() -> None:
    """search() returns the newest matches oldest first, and where an unread part begins."""
    import re

    transcript = Transcript(100)
    transcript.event("open", protocol="", extensions="")
    for i in range(60):
        transcript.received_batch([f"tick {i}" if i % 2 else f"TOCK {i}"])
    transcript.sent(b"\x01\x02", 2)
    window = transcript.window()

    def describe(record: dict[str, Any]) -> str:
        """Describe a non-text record for the search."""
        return f"{record['type']} {record.get('data', '')}"

    def every(kind: str) -> bool:
        """Keep every kind of record."""
        return True

    tocks = re.compile("tock", re.IGNORECASE)
    found, rest = window.search(
        0, 62, pattern=tocks, kind=every, describe=describe, limit=5, budget=1000
    )
    assert [r["data"] for r in found] == ["TOCK 50", "TOCK 52", "TOCK 54", "TOCK 56", "TOCK 58"]
    assert rest == found[0]["seq"]
    older, rest = window.search(
        0, rest, pattern=tocks, kind=every, describe=describe, limit=100, budget=1000
    )
    assert len(older) == 25 and rest == 0
    budgeted, rest = window.search(
        0, 62, pattern=tocks, kind=every, describe=describe, limit=100, budget=10
    )
    assert len(budgeted) == 4 and rest == 52
    events, _ = window.search(
        0,
        62,
        pattern=re.compile("open"),
        kind=lambda kind: kind != "receive",
        describe=describe,
        limit=10,
        budget=1000,
    )
    assert [r["type"] for r in events] == ["open"]
    sent, _ = window.search(
        0,
        62,
        pattern=None,
        kind=lambda kind: kind == "send",
        describe=describe,
        limit=10,
        budget=100,
    )
    assert [r["seq"] for r in sent] == [61]
