"""Blob: immutable binary data with a MIME type, as binary messages arrive by default."""

from __future__ import annotations

from collections.abc import Iterable

from ._text import type_name, utf8

__all__ = ["Blob"]


class Blob:
    """Immutable bytes with a MIME ``type``, like the browser's ``Blob``.

    ``Blob(["ab", b"\\x00"], type="application/octet-stream")`` concatenates its parts
    (strings are UTF-8 encoded). ``bytes(blob)`` gives the content, ``blob.size`` its length.
    """

    __slots__ = ("_data", "_type")
    _data: bytes
    _type: str

    def __init__(
        self,
        parts: Iterable[str | bytes | bytearray | memoryview | Blob] = (),
        type: str = "",
    ) -> None:
        chunks: list[bytes] = []
        for part in parts:
            if isinstance(part, str):
                chunks.append(utf8(part))
            elif isinstance(part, Blob):
                chunks.append(part._data)
            elif isinstance(part, (bytes, bytearray, memoryview)):
                chunks.append(bytes(part))
            else:
                raise TypeError(
                    f"Blob parts must be str, bytes-like or Blob, not {type_name(part)}"
                )
        self._data = b"".join(chunks)
        # The File API lowercases the type and drops it when it has non-printable characters.
        self._type = type.lower() if all(0x20 <= ord(c) <= 0x7E for c in type) else ""

    @classmethod
    def _wrap(cls, data: bytes) -> Blob:
        """Wrap received bytes without copying them."""
        blob = cls.__new__(cls)
        blob._data = data
        blob._type = ""
        return blob

    @property
    def size(self) -> int:
        """The number of bytes in the blob."""
        return len(self._data)

    @property
    def type(self) -> str:
        """The MIME type given at creation, lowercased ("" when unknown)."""
        return self._type

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Blob):
            return self._data == other._data and self._type == other._type
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._data, self._type))

    def text(self) -> str:
        """Decode the content as UTF-8, replacing invalid bytes with U+FFFD."""
        return self._data.decode("utf-8", "replace")

    def arrayBuffer(self) -> bytes:  # noqa: N802 - browser spelling
        """Return the content as ``bytes`` (the browser returns an ArrayBuffer)."""
        return self._data

    def bytes(self) -> bytes:
        """Return the content as ``bytes``."""
        return self._data

    def slice(self, start: int = 0, end: int | None = None, contentType: str = "") -> Blob:  # noqa: N803
        """Return a new Blob of the bytes from ``start`` to ``end`` (negative: from the end)."""
        return Blob([self._data[start:end]], type=contentType)

    def __repr__(self) -> str:
        kind = f", type={self._type!r}" if self._type else ""
        return f"<Blob size={self.size}{kind}>"
