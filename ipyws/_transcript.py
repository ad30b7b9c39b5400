"""The transcript: a bounded record of one socket's traffic, shaped like Chrome's HAR.

Chrome's HAR export keeps a socket's frames as ``_webSocketMessages`` entries
``{"type": "send" | "receive", "time": <epoch seconds>, "opcode": 1 | 2, "data": str}``
(binary data base64-encoded). ipyws keeps the same records, adds ``size`` (bytes on the
wire) and ``seq`` (a running number), and adds lifecycle records of type ``open``, ``error``
and ``close`` carrying the handshake, the failure or the close code; a socket that
reconnects adds a ``reconnect`` record (attempt, delay, last close code and reason) between
its connections, and ``log_pings=True`` adds ``ping`` and ``pong`` records. The panel, ``%ws log``
and the exports all read this one record.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any

from ._text import utf8

__all__ = ["DEFAULT_DATA_LIMIT", "DEFAULT_LOG_SIZE", "Transcript", "Window", "load_jsonl"]

#: Records a transcript keeps by default; older ones are dropped first.
DEFAULT_LOG_SIZE = 1000
#: Bytes of each message's data a transcript keeps by default; ``size`` stays exact.
DEFAULT_DATA_LIMIT = 64 * 1024

TEXT, BINARY = 1, 2

_time = time.time

# A record is a tuple until someone asks for dicts: the I/O thread appends one per message.
_Record = tuple[int, float, str, int, "str | bytes | None", int, "dict[str, Any] | None"]


class Transcript:
    """A ring buffer of the last ``maxlen`` records of a socket's traffic, plus counters.

    Appends come from the I/O thread (received messages, lifecycle) and from the thread
    that calls ``send`` (sent messages); readers take snapshots, so no lock is needed.
    """

    def __init__(
        self, maxlen: int = DEFAULT_LOG_SIZE, data_limit: int = DEFAULT_DATA_LIMIT
    ) -> None:
        if maxlen < 1:
            raise ValueError(f"log_size must be at least 1, not {maxlen}")
        self._records: deque[_Record] = deque(maxlen=maxlen)
        self._data_limit = data_limit
        self._seq = 0
        self.created = _time()
        #: Messages and payload bytes received.
        self.messages_in = 0
        self.bytes_in = 0
        #: Messages and payload bytes sent (counted when ``send`` hands them over).
        self.messages_out = 0
        self.bytes_out = 0
        #: ``reconnect`` records ever added: the connections after the first one.
        self.reconnects = 0
        #: The newest ``open``, ``error`` and ``close`` record by type, kept even after the
        #: ring drops it: the panel reads the state from here on a feed that turns the ring
        #: over between two of its reads.
        self.lifecycle: dict[str, dict[str, Any]] = {}

    @property
    def maxlen(self) -> int:
        """The number of records kept."""
        return self._records.maxlen or 0

    @property
    def total(self) -> int:
        """The number of records ever added (the ``seq`` the next record will get)."""
        return self._seq

    def _add(
        self,
        kind: str,
        opcode: int,
        data: str | bytes | None,
        size: int,
        extra: dict[str, Any] | None = None,
    ) -> _Record:
        if data is not None and size > self._data_limit:
            data = data[: self._data_limit]
            extra = {**(extra or {}), "truncated": True}
        seq = self._seq
        self._seq = seq + 1
        record = (seq, _time(), kind, opcode, data, size, extra)
        self._records.append(record)
        return record

    def received_batch(self, batch: list[str | bytes]) -> None:
        """Record the messages that arrived in one read, in order, with their size in bytes.

        They arrived together, so they share one time. A text's size is its UTF-8 length:
        the engine decoded valid UTF-8, so ASCII text (an O(1) check) is one byte per
        character, and only other text is encoded again to count it.
        """
        now = _time()
        seq = self._seq
        limit = self._data_limit
        append = self._records.append
        total = 0
        for data in batch:
            if data.__class__ is str:
                size = len(data) if data.isascii() else len(utf8(data))  # type: ignore[union-attr, arg-type]
                opcode = TEXT
            else:
                size = len(data)
                opcode = BINARY
            total += size
            if size > limit:
                self._seq = seq
                self._add("receive", opcode, data, size)
                seq += 1
                continue
            append((seq, now, "receive", opcode, data, size, None))
            seq += 1
        self._seq = seq
        self.messages_in += len(batch)
        self.bytes_in += total

    def sent(self, data: str | bytes, size: int) -> None:
        """Record a message handed to ``send``."""
        self.messages_out += 1
        self.bytes_out += size
        self._add("send", TEXT if isinstance(data, str) else BINARY, data, size)

    def event(self, kind: str, **fields: Any) -> None:
        """Record a lifecycle event (``open``, ``error``, ``close``, ``reconnect``)."""
        if kind == "reconnect":
            self.reconnects += 1
        self.lifecycle[kind] = _to_dict(self._add(kind, 0, None, 0, fields))

    def control(self, kind: str, **fields: Any) -> None:
        """Record a control frame (``ping``, ``pong``) with its fields (``log_pings=True``)."""
        self._add(kind, 0, None, 0, fields)

    def rates(self, window: float = 1.0) -> tuple[float, float, float, float]:
        """Return messages and bytes per second, received then sent, over the last ``window`` s.

        Read from the kept records, so nothing is counted per message: when the ring holds
        less than ``window`` seconds of a fast feed, the span it does hold is measured.
        """
        now = _time()
        span = min(window, max(now - self.created, 1e-9))
        full = len(self._records) == self.maxlen
        counts = {"receive": [0, 0], "send": [0, 0]}
        oldest = now
        for record in reversed(list(self._records)):  # one C-level copy, newest first
            when = record[1]
            if when < now - window:
                break
            oldest = when
            count = counts.get(record[2])
            if count is not None:
                count[0] += 1
                count[1] += record[5]
        else:
            if full:  # the ring turned over inside the window: measure what it holds
                span = max(now - oldest, 1e-9)
        (messages_in, bytes_in), (messages_out, bytes_out) = counts["receive"], counts["send"]
        return messages_in / span, bytes_in / span, messages_out / span, bytes_out / span

    def __len__(self) -> int:
        return len(self._records)

    def records(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Return the kept records with ``seq >= since`` as JSON-ready dicts, oldest first.

        Binary data is base64-encoded, as in HAR; ``limit`` keeps only the newest ones.
        """
        snapshot = list(self._records)  # one C-level copy: safe against concurrent appends
        if since:
            snapshot = [r for r in snapshot if r[0] >= since]
        if limit is not None:
            snapshot = snapshot[-limit:] if limit > 0 else []
        return [_to_dict(r) for r in snapshot]

    def tail(self, count: int) -> list[dict[str, Any]]:
        """Return the newest ``count`` records, oldest first, without copying the whole ring."""
        if count <= 0:
            return []
        for _ in range(3):
            try:
                newest = list(itertools.islice(reversed(self._records), count))
                break
            except RuntimeError:  # another thread appended mid-copy: read again
                continue
        else:
            newest = list(self._records)[-count:][::-1]
        return [_to_dict(r) for r in reversed(newest)]

    def window(self) -> Window:
        """Return the kept records as they are now, addressed by ``seq`` (a frozen copy)."""
        return Window(list(self._records), self._seq)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def to_jsonl(self, file: str | os.PathLike[str] | IO[str]) -> None:
        """Write the records as JSON lines to a path or an open text file."""
        if isinstance(file, (str, os.PathLike)):
            with open(file, "w", encoding="utf-8") as fh:
                self.to_jsonl(fh)
            return
        for record in self.records():
            file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def to_dataframe(self) -> Any:
        """Return the records as a pandas DataFrame (needs pandas), ``time`` as datetimes.

        Integer fields that some records lack (``opcode`` and ``size`` on open and close
        records, ``code`` on all but close) are nullable integers (``Int64``), not floats.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "to_dataframe() needs pandas: pip install pandas (or use records())"
            ) from None
        frame = pd.DataFrame(self.records())
        if not frame.empty:
            frame["time"] = pd.to_datetime(frame["time"], unit="s")
        present = [name for name in _NULLABLE_INTEGERS if name in frame.columns]
        return frame.astype(dict.fromkeys(present, "Int64"))

    def clear(self) -> None:
        """Drop the kept records (counters and ``seq`` go on)."""
        self._records.clear()


class Window:
    """A transcript's kept records at one moment, addressed by ``seq``: ``first`` to ``total``.

    The ring holds consecutive ``seq`` numbers, so a record is found by its offset from the
    oldest. A window is a copy of the ring's references (the records themselves are shared),
    so it stays as it was while the socket goes on.
    """

    def __init__(self, records: list[_Record], total: int) -> None:
        self._records = records
        #: The ``seq`` of the oldest record held (``total`` when none is).
        self.first = records[0][0] if records else total
        #: One past the ``seq`` of the newest record held.
        self.total = records[-1][0] + 1 if records else total

    def __len__(self) -> int:
        return len(self._records)

    def records(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Return the records with ``start <= seq < stop`` that the window holds, oldest first."""
        low = max(start, self.first) - self.first
        high = min(stop, self.total) - self.first
        return [_to_dict(r) for r in self._records[low:high]] if high > low else []

    def get(self, seq: int) -> dict[str, Any] | None:
        """Return the record ``seq``, or None if the window does not hold it."""
        found = self.records(seq, seq + 1)
        return found[0] if found else None

    def search(
        self,
        start: int,
        stop: int,
        *,
        pattern: re.Pattern[str] | None,
        kind: Callable[[str], bool],
        describe: Callable[[dict[str, Any]], str],
        limit: int,
        budget: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Find the newest ``limit`` matches among the records with ``start <= seq < stop``.

        A record matches when ``kind(type)`` is true and ``pattern`` (if any) is found in its
        text: the data of a text message, ``describe(record)`` of anything else. The scan goes
        from the newest record down and reads at most ``budget`` records. Return the matches,
        oldest first, and the ``seq`` below which nothing was read (at most ``start`` once all
        of the range was read).
        """
        low = max(start, self.first) - self.first
        high = min(stop, self.total) - self.first
        found: list[dict[str, Any]] = []
        index = high
        floor = max(low, high - budget)
        while index > floor and len(found) < limit:
            index -= 1
            record = self._records[index]
            if not kind(record[2]):
                continue
            data = record[4]
            if pattern is not None:
                if data.__class__ is str and record[3] == TEXT:
                    if pattern.search(data) is None:  # type: ignore[arg-type]
                        continue
                elif pattern.search(describe(_to_dict(record))) is None:
                    continue
            found.append(_to_dict(record))
        found.reverse()
        rest = index + self.first if index > low else start
        return found, rest


#: Integer fields of records that other records lack: pandas would make them floats.
_NULLABLE_INTEGERS = ("opcode", "size", "code")


def load_jsonl(file: str | os.PathLike[str] | IO[str]) -> list[dict[str, Any]]:
    """Read records written by [`Transcript.to_jsonl`][ipyws.Transcript.to_jsonl] as dicts."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, encoding="utf-8") as fh:
            return load_jsonl(fh)
    return [json.loads(line) for line in file if line.strip()]


def _to_dict(record: _Record) -> dict[str, Any]:
    seq, when, kind, opcode, data, size, extra = record
    out: dict[str, Any] = {"seq": seq, "type": kind, "time": when}
    if opcode:
        out["opcode"] = opcode
        out["data"] = base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data
        out["size"] = size
    if extra:
        out.update(extra)
    return out
