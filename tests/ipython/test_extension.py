"""Loading, reloading and unloading the ipyws extension in an InteractiveShell."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

import ipyws
from ipyws import ReadyState, sockets
from ipyws._magics import WSMagics, load_ipython_extension
from tests.ipython.shell import TIMEOUT, find_magic, run, socket_named, usage_error


def _magics(shell: InteractiveShell) -> WSMagics:
    magics = shell.magics_manager.registry["WSMagics"]
    assert isinstance(magics, WSMagics)
    return magics


def test_package_exports_the_extension_hooks_in_a_sorted_all() -> None:
    """ipyws exports load/unload_ipython_extension, and __all__ stays sorted."""
    assert "load_ipython_extension" in ipyws.__all__
    assert "unload_ipython_extension" in ipyws.__all__
    assert ipyws.__all__ == sorted(ipyws.__all__)


def test_load_ext_registers_the_line_and_cell_magic(ip: InteractiveShell) -> None:
    """%load_ext ipyws makes %ws and %%ws available."""
    assert find_magic(ip, "line", "ws") is not None
    assert find_magic(ip, "cell", "ws") is not None


def test_loading_twice_is_harmless(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second load returns the same magics: one completer, one pair of cell hooks."""
    first = _magics(ip)
    run(ip, "%load_ext ipyws")
    assert load_ipython_extension(ip) is first
    assert _magics(ip) is first
    assert sum(type(m).__name__ == "Completer" for m in ip.Completer.custom_matchers) == 1
    assert ip.events.callbacks["pre_run_cell"].count(first._pre_run_cell) == 1
    assert "already loaded" in capsys.readouterr().out


def test_reload_ext_closes_the_old_sockets_and_the_magics_still_work(
    ip: InteractiveShell, echo_url: str
) -> None:
    """%reload_ext ipyws closes what the magics opened and registers fresh, working magics."""
    run(ip, f"%ws connect {echo_url} --as old --no-display")
    old = socket_named(ip, "old").wait_open(TIMEOUT)
    magics = _magics(ip)
    run(ip, "%reload_ext ipyws")
    assert old.wait_closed(TIMEOUT).code == 1000
    assert _magics(ip) is not magics
    run(ip, f"%ws connect {echo_url} --as new --no-display")
    assert socket_named(ip, "new").wait_open(TIMEOUT).readyState == ReadyState.OPEN


def test_unload_ext_closes_sockets_stops_demos_and_removes_magics(
    ip: InteractiveShell, echo_url: str
) -> None:
    """%unload_ext ipyws closes the magics' sockets, stops demo servers, removes %ws and hooks."""
    run(ip, f"%ws connect {echo_url} --as one --no-display")
    run(ip, "%ws demo echo --as two --no-display")
    one, two = socket_named(ip, "one"), socket_named(ip, "two")
    one.wait_open(TIMEOUT)
    two.wait_open(TIMEOUT)
    magics = _magics(ip)
    completer = magics._completer
    (_, server) = magics.demo_servers["two"]
    assert server.running
    run(ip, "%unload_ext ipyws")
    assert one.wait_closed(TIMEOUT).code == 1000
    assert two.wait_closed(TIMEOUT).code in (1000, 1001)
    assert not server.running
    assert find_magic(ip, "line", "ws") is None and find_magic(ip, "cell", "ws") is None
    assert "WSMagics" not in ip.magics_manager.registry
    assert completer not in ip.Completer.custom_matchers
    assert magics._pre_run_cell not in ip.events.callbacks["pre_run_cell"]
    assert magics not in ip.configurables
    assert usage_error(ip, "%ws list") == "Line magic function `%ws` not found."
    assert socket_named(ip, "one") is one  # the closed socket stays in the namespace


def test_unload_leaves_sockets_the_magics_did_not_open(ip: InteractiveShell, echo_url: str) -> None:
    """A WebSocket made in Python is not the extension's to close on unload."""
    run(ip, f"from ipyws import WebSocket\nmine = WebSocket({echo_url!r})")
    mine = socket_named(ip, "mine")
    mine.wait_open(TIMEOUT)
    run(ip, "%unload_ext ipyws")
    assert mine.readyState == ReadyState.OPEN
    assert mine in sockets()


def test_unload_then_load_again_works(ip: InteractiveShell, echo_url: str) -> None:
    """After %unload_ext, %load_ext ipyws brings the magics back."""
    run(ip, "%unload_ext ipyws")
    run(ip, "%load_ext ipyws")
    run(ip, f"%ws connect {echo_url} --as back --no-display")
    assert socket_named(ip, "back").wait_open(TIMEOUT).readyState == ReadyState.OPEN


def test_unload_hook_without_load_does_nothing(shell: InteractiveShell) -> None:
    """ipyws.unload_ipython_extension on a shell without the magics is a no-op."""
    assert "WSMagics" not in shell.magics_manager.registry
    ipyws.unload_ipython_extension(shell)
    assert find_magic(shell, "line", "ws") is None
