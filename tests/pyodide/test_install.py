"""ipyws's wheel in Pyodide: it installs and imports with nothing else there."""

from __future__ import annotations

from tests.pyodide.conftest import PyodideSession


def test_import_needs_no_other_package(pyodide: PyodideSession) -> None:
    """`import ipyws` and `ipyws.WebSocket` work with no websockets, ada-url, IPython or widgets."""
    found = pyodide.json(
        "import importlib.machinery, json, sys, ipyws\n"
        "path = [p for p in sys.path if p != '/extras']\n"
        "json.dumps({'platform': sys.platform, 'websocket': ipyws.WebSocket.__name__,\n"
        "  'absent': [n for n in ('websockets', 'ada_url', 'IPython', 'ipywidgets',\n"
        "             'anywidget', 'ipykernel')\n"
        "             if importlib.machinery.PathFinder.find_spec(n, path) is None]})"
    )
    assert found == {
        "platform": "emscripten",
        "websocket": "WebSocket",
        "absent": ["websockets", "ada_url", "IPython", "ipywidgets", "anywidget", "ipykernel"],
    }


def test_requirements_on_emscripten_are_the_widget_packages(pyodide: PyodideSession) -> None:
    """The wheel's markers leave only ipywidgets and anywidget required under Pyodide."""
    required = pyodide.json(
        "import json\n"
        "from importlib.metadata import requires\n"
        "from packaging.requirements import Requirement\n"
        "reqs = [Requirement(r) for r in requires('ipyws')]\n"
        "json.dumps(sorted(r.name for r in reqs\n"
        "  if r.marker is None or r.marker.evaluate({'extra': ''})))"
    )
    assert required == ["anywidget", "ipywidgets"]
