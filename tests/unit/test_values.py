"""Value types and the package surface: Blob, DOMException, ``__all__``."""

from __future__ import annotations

import pickle
import re

import pytest

import ipyws
import ipyws._transport
import ipyws._waiting
import ipyws.exceptions
from ipyws import Blob, DOMException, DOMSyntaxError, InvalidAccessError, InvalidStateError

# -- Blob -------------------------------------------------------------------------------------


def test_blob_concatenates_parts() -> None:
    """Blob(parts) joins str (as UTF-8), bytes-likes and Blobs in order."""
    blob = Blob(["é", b"\x00", bytearray(b"a"), memoryview(b"xyz")[1:], Blob([b"!"])])
    assert bytes(blob) == "é".encode() + b"\x00ayz!"
    assert blob.size == len(blob) == 7


def test_blob_defaults() -> None:
    """Blob() is empty with an empty type."""
    blob = Blob()
    assert (blob.size, blob.type, bytes(blob)) == (0, "", b"")


def test_blob_type_is_lowercased() -> None:
    """The MIME type is lowercased; one with non-printable characters becomes ""."""
    assert Blob([], type="Text/Plain").type == "text/plain"
    assert Blob([], type="text/\u00e9").type == ""
    assert Blob([], type="text\n").type == ""


def test_blob_lone_surrogate_part_is_replaced() -> None:
    """A str part with a lone surrogate is encoded with U+FFFD, as the browser does."""
    assert bytes(Blob(["a\ud800"])) == "a\ufffd".encode()


def test_blob_rejects_other_parts() -> None:
    """A part that is not str, bytes-like or Blob raises TypeError."""
    with pytest.raises(TypeError, match="Blob parts must be"):
        Blob([1])  # type: ignore[list-item]


def test_blob_readers() -> None:
    """text() decodes with U+FFFD for bad bytes; arrayBuffer() and bytes() give the bytes."""
    blob = Blob([b"ok\xff"])
    assert blob.text() == "ok\ufffd"
    assert blob.arrayBuffer() == blob.bytes() == b"ok\xff"


def test_blob_slice() -> None:
    """slice(start, end, contentType) gives a new Blob; negative indexes count from the end."""
    blob = Blob([b"0123456789"], type="a/b")
    part = blob.slice(2, -3, "text/plain")
    assert (bytes(part), part.type) == (b"23456", "text/plain")
    assert bytes(blob.slice()) == b"0123456789"
    assert blob.slice().type == ""


def test_blob_equality_and_hash() -> None:
    """Blobs with equal bytes and type are equal and hash alike; a Blob never equals bytes."""
    assert Blob([b"a"], type="x/y") == Blob(["a"], type="X/Y")
    assert hash(Blob([b"a"])) == hash(Blob(["a"]))
    assert Blob([b"a"]) != Blob([b"a"], type="x/y")
    assert Blob([b"a"]) != b"a"


def test_blob_repr() -> None:
    """repr() shows the size and, when set, the type."""
    assert repr(Blob([b"abc"])) == "<Blob size=3>"
    assert repr(Blob([b"abc"], type="a/b")) == "<Blob size=3, type='a/b'>"


# -- DOMException -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "name", "code", "builtin"),
    [
        (DOMSyntaxError, "SyntaxError", 12, ValueError),
        (InvalidStateError, "InvalidStateError", 11, RuntimeError),
        (InvalidAccessError, "InvalidAccessError", 15, ValueError),
    ],
)
def test_dom_exception_names_codes_and_builtins(
    cls: type[DOMException], name: str, code: int, builtin: type[Exception]
) -> None:
    """Each DOMException subclass has its DOM name, legacy code and a fitting builtin base."""
    exc = cls("what happened")
    assert isinstance(exc, DOMException)
    assert isinstance(exc, builtin)
    assert (exc.name, exc.code, exc.message) == (name, code, "what happened")
    assert str(exc) == f"{name}: what happened"
    with pytest.raises(builtin):
        raise exc


def test_dom_exception_base() -> None:
    """DOMException takes a message and an optional name; unknown names have code 0."""
    assert DOMException("m", "SyntaxError").code == 12
    plain = DOMException()
    assert (plain.name, plain.code, str(plain)) == ("Error", 0, "Error")
    assert DOMException("m", "NotAName").code == 0


def test_dom_syntax_error_is_not_python_syntax_error() -> None:
    """DOMSyntaxError is not Python's SyntaxError, so it never looks like a parse error."""
    assert not issubclass(DOMSyntaxError, SyntaxError)


# -- the package surface --------------------------------------------------------------------------


def test_all_is_sorted() -> None:
    """``ipyws.__all__`` is sorted."""
    assert ipyws.__all__ == sorted(ipyws.__all__)


def test_all_names_exist() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    missing = [name for name in ipyws.__all__ if not hasattr(ipyws, name)]
    assert missing == []


def test_all_is_complete() -> None:
    """Every public class or function the package defines is listed in ``__all__``."""
    public = {
        name
        for name, value in vars(ipyws).items()
        if not name.startswith("_")
        # Names merely imported for the package's own use (typing.Any, ...) are not API.
        and getattr(value, "__module__", "").partition(".")[0] == "ipyws"
    }
    assert public, "no public name found: the filter is wrong"
    assert public - set(ipyws.__all__) == set()


def test_public_api_names() -> None:
    """The fixed public names of PRODUCT.md are exported."""
    for name in ["WebSocket", "Blob", "Event", "MessageEvent", "CloseEvent", "DOMException"]:
        assert name in ipyws.__all__
    assert isinstance(ipyws.__version__, str)


def test_every_public_exception_lives_in_ipyws_exceptions() -> None:
    """Each exception ipyws exports is defined in ipyws.exceptions and drawn in its tree."""
    exported = [v for v in vars(ipyws).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert {e.__module__ for e in exported} == {"ipyws.exceptions"}
    assert {e.__name__ for e in exported} == set(ipyws.exceptions.__all__)
    tree = ipyws.exceptions.__doc__ or ""
    drawn = set(re.findall(r"^    (?:[├└]── )?(\w+) ", tree, re.MULTILINE))
    assert {e.__name__ for e in exported} <= drawn
    assert issubclass(ipyws.WebSocketClosedError, ConnectionError)
    assert issubclass(ipyws.HandshakeError, ConnectionError)
    assert issubclass(ipyws.ConnectionFailedError, ConnectionError)


def test_exceptions_import_from_their_old_modules() -> None:
    """The exceptions that moved stay importable from where they were defined before."""
    assert ipyws._waiting.WebSocketClosedError is ipyws.WebSocketClosedError
    assert ipyws._transport.HandshakeError is ipyws.HandshakeError
    assert ipyws._transport.ConnectionFailedError is ipyws.ConnectionFailedError


def test_websocket_closed_error_keeps_its_close_event_through_pickle() -> None:
    """WebSocketClosedError carries the CloseEvent, also after a pickle round trip."""
    event = ipyws.CloseEvent("close", code=1006, reason="", wasClean=False)
    error = pickle.loads(pickle.dumps(ipyws.WebSocketClosedError("closed", event)))
    assert (str(error), error.event.code) == ("closed", 1006)
