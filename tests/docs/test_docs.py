"""The documentation: the site builds with no warning, and the README's commands and example run."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import tomllib

import ipyws

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
RUN_TIMEOUT = 60
BUILD_TIMEOUT = 300

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _env() -> dict[str, str]:
    """Return an environment that imports ipyws from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["NO_MKDOCS_2_WARNING"] = "1"  # mkdocs-material's banner about MkDocs 2.0
    return env


def _run(
    args: list[str], cwd: Path, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and fail with that output if it exits non-zero."""
    result = subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def _readme_section(title: str) -> str:
    """Return the README's text under the ``## title`` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def test_docs_build_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` succeeds: every page, link, notebook and docstring renders."""
    site = tmp_path / "site"
    result = _run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        REPO_ROOT,
        timeout=BUILD_TIMEOUT,
    )
    # mkdocs' own warnings (the executed notebooks' kernels log theirs as "[IPKernelApp] ...").
    assert [line for line in result.stderr.splitlines() if line.startswith("WARNING")] == []
    for name in ("index.html", "reference/api/index.html", "reference/parity/index.html"):
        assert (site / name).is_file(), name
    api = (site / "reference/api/index.html").read_text(encoding="utf-8")
    assert "wait_message" in api and "bufferedAmount" in api
    # Docstrings' cross-references became links (a leftover reST role fails the build).
    demo = (site / "reference/demo/index.html").read_text(encoding="utf-8")
    assert 'href="#ipyws.WebSocket.send"' in api and 'href="#ipyws.demo.start"' in demo
    # Only url is required: the handler keywords are optional, default None.
    rows = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", api))
    assert rows.count(" required ") == 1 and " url str " in rows
    for handler in ("onopen", "onmessage", "onerror", "onclose"):
        row = rf" {handler} Callable [^|]*\| None the \S+ handler[^|]*? None "
        assert re.search(row, rows), handler
    tour = site / "notebooks/02-websockets-tour/index.html"
    assert "The order of events" in tour.read_text(encoding="utf-8")
    # The notebooks are executed for the site: real outputs, and the panel's saved snapshot
    # (the widget itself cannot render there) in the socket's state at the end of the run.
    quickstart = (site / "notebooks/01-quickstart/index.html").read_text(encoding="utf-8")
    assert re.search(r"In\s\[1\]", quickstart)  # the prompt's space is a no-break space
    assert "the handler heard: [{'type': 'subscribed'" in quickstart
    saved = quickstart[quickstart.index('class="ipyws-saved-snapshot"') :][:3000]
    assert "CLOSED" in saved and "Normal Closure" in saved
    magics = (site / "notebooks/04-magics/index.html").read_text(encoding="utf-8")
    assert "Removed 1 %%ws on handler of echo." in magics
    for page in sorted(site.glob("notebooks/*/index.html")):
        html = page.read_text(encoding="utf-8")
        links = re.findall(r'href="([^"#:]+)"', html)
        # mkdocs_hooks.py rewrites the notebooks' Jupyter-style links to site URLs.
        assert not [link for link in links if link.endswith((".md", ".ipynb"))], page
        broken = [
            link
            for link in links
            if link.endswith("/") and not (page.parent / link / "index.html").is_file()
        ]
        assert broken == [], (page, broken)


def test_api_reference_lists_every_public_name() -> None:
    """docs/reference/api.md has a ``::: ipyws.NAME`` entry for each name in ``ipyws.__all__``."""
    text = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: ipyws\.(\w+)$", text, re.MULTILINE))
    public = set(ipyws.__all__) - {"__version__"}
    assert public - documented == set()
    assert "__version__" in text


def test_readme_example_runs(tmp_path: Path) -> None:
    """The README's ten-line example runs as a script and prints the echo and a clean close."""
    (language, code), *_ = _FENCE.findall(_readme_section("In ten lines"))
    assert language == "python"
    assert len(code.strip().splitlines()) <= 10
    result = _run([sys.executable, "-c", code], tmp_path)
    assert "echo: Hello, WebSocket!" in result.stdout
    assert "code=1000 reason='done' wasClean=True" in result.stdout


def test_readme_quickstart_command_runs(tmp_path: Path) -> None:
    """``python -m ipyws``, which the README's first command ends with, talks to the echo demo."""
    section = _readme_section("Try it (no network needed)")
    first = _FENCE.findall(section)[0][1]
    assert "pip install -e ." in first and first.strip().endswith("python -m ipyws")
    assert "pip install -e . --group dev" in section and "python -m pytest" in section
    result = _run([sys.executable, "-m", "ipyws"], tmp_path)
    assert "message  'Hello, WebSocket!'" in result.stdout
    assert "close    code=1000 reason='done' wasClean=True" in result.stdout


def _markdown(path: Path) -> str:
    """Return the Markdown of a page, or of a notebook's Markdown cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


DOCUMENTS = [
    "README.md",
    *sorted(str(p.relative_to(REPO_ROOT)) for p in DOCS.rglob("*.md")),
    *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "notebooks").glob("*.ipynb")),
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_relative_links_resolve(document: str) -> None:
    """Each relative link in the README, the docs and the notebooks points to an existing file."""
    path = REPO_ROOT / document
    missing = [
        target
        for target in _LINK.findall(_markdown(path))
        if "://" not in target
        and not target.startswith("mailto:")
        and not (path.parent / target).exists()
    ]
    assert missing == []


def test_testing_howto_examples_pass(tmp_path: Path) -> None:
    """The files shown in docs/howto/testing.md, written out as they are, pass their own tests."""
    text = (DOCS / "howto" / "testing.md").read_text(encoding="utf-8")
    files = re.findall(r'^```python title="([\w.]+)"\n(.*?)^```', text, re.MULTILINE | re.DOTALL)
    assert {name for name, _ in files} == {"conftest.py", "prices.py", "test_prices.py"}
    for name, code in files:
        (tmp_path / name).write_text(code, encoding="utf-8")
    result = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-W",
            "error",
            "-c",
            os.devnull,
            str(tmp_path),
        ],
        tmp_path,
    )
    assert "2 passed" in result.stdout


_ROLE_IN_SOURCE = re.compile(r":(?:py:)?(?:attr|class|data|exc|func|meth|mod|obj|ref):`")


def test_docstrings_cross_reference_in_markdown() -> None:
    """No module of ipyws uses a reST role, which the Markdown site would print literally."""
    package = REPO_ROOT / "ipyws"
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _ROLE_IN_SOURCE.search(line)
    ]
    assert found == []


def test_docs_build_refuses_a_leftover_role() -> None:
    """The docs hook raises on a page whose HTML still shows a reST role such as :meth:`send`."""
    from mkdocs.exceptions import PluginError

    spec = importlib.util.spec_from_file_location("ipyws_mkdocs_hooks", DOCS / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="reference/api.md"))
    fine = '<p>Call <a href="#ipyws.WebSocket.send"><code>send</code></a>.</p>'
    assert hooks.on_page_content(fine, page, None, None) == fine
    with pytest.raises(PluginError, match=r"reference/api\.md"):
        hooks.on_page_content("<p>Call :meth:<code>send</code>.</p>", page, None, None)


def test_docs_toolchain_formats_signatures() -> None:
    """The docs group installs Ruff, which mkdocstrings needs to format signatures."""
    groups = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    docs = groups["dependency-groups"]["docs"]
    assert any(re.match(r"(ruff|black)\b", requirement) for requirement in docs), docs


def test_home_page_code_fits_its_box() -> None:
    """The home page's code lines fit the theme's code box (about 68 columns), none clipped."""
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    lines = [line for _, code in _FENCE.findall(text) for line in code.splitlines()]
    tabbed = re.findall(r"^    ```\w*\n(.*?)^    ```", text, re.MULTILINE | re.DOTALL)
    lines += [line[4:] for code in tabbed for line in code.splitlines()]
    assert lines and [line for line in lines if len(line) > 64] == []


def test_install_commands_say_what_works_before_a_release() -> None:
    """The home page installs from a checkout; README's notebook command installs the extra."""
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "pip install -e ." in home and "git clone" in home
    readme = README.read_text("utf-8")
    assert "pip install -e . --group notebooks && jupyter lab notebooks/" in readme


def test_notebooks_group_installs_what_the_notebooks_import() -> None:
    """Each package a notebook imports is a dependency of ipyws or in its ``notebooks`` group."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [*project["project"]["dependencies"], *project["dependency-groups"]["notebooks"]]
    names = {re.split(r"[<>=!~\[; ]", requirement)[0].lower() for requirement in wanted}
    assert "jupyterlab" in names
    distributions = importlib.metadata.packages_distributions()
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for module in set(re.findall(r"^\s*(?:import|from) (\w+)", code, re.MULTILINE)):
            if module in sys.stdlib_module_names or module == "ipyws":
                continue
            providers = {name.lower() for name in distributions.get(module, [module])}
            assert providers & names, (path.name, module)
