"""How a socket finds its rich display without the spec layer importing the widget layer.

The socket's ``_repr_mimebundle_`` asks ``mimebundle``; the layer that draws sockets
(``ipyws.widgets``, registered lazily by the package) answers through ``register``. Until
something is registered a socket shows as its ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

__all__ = ["Renderer", "mimebundle", "register"]

#: Draws an object: ``renderer(obj, include, exclude)`` returns its display data by MIME type.
Renderer = Callable[[Any, Collection[str] | None, Collection[str] | None], dict[str, Any]]

_renderer: Renderer | None = None


def register(renderer: Renderer) -> None:
    """Make ``renderer`` draw every socket from now on."""
    global _renderer
    _renderer = renderer


def mimebundle(
    obj: object, include: Collection[str] | None = None, exclude: Collection[str] | None = None
) -> dict[str, Any]:
    """Return the display data of ``obj`` from the registered renderer (its repr without one)."""
    if _renderer is None:
        return {"text/plain": repr(obj)}
    return _renderer(obj, include, exclude)
