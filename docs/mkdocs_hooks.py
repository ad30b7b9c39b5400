"""MkDocs hooks: make the links inside rendered notebooks work, and refuse Sphinx roles.

The notebooks in ``notebooks/`` link the way Jupyter resolves links: to a sibling notebook as
``03-exploring-a-feed.ipynb`` and to a docs page as ``../docs/explanation/threads.md``.
mkdocs-jupyter copies those links into the page as they are, which breaks them on the site,
where each notebook is a directory page (``notebooks/02-websockets-tour/``). This hook rewrites
them to the site's URLs, so one notebook serves both Jupyter and the site.

Docstrings cross-reference in mkdocstrings' Markdown style (``[`send`][ipyws.WebSocket.send]``),
which the site renders as links; a reST role (``:meth:`send```) would print literally, so a page
that still shows one fails the build.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from mkdocs.exceptions import PluginError

#: A reST cross-reference role as it shows on a page when nothing rendered it.
SPHINX_ROLE = re.compile(r":(?:py:)?(?:attr|class|data|exc|func|meth|mod|obj|ref):(?:`|<code>)")
_HREF = re.compile(r'href="(?P<target>[^"#:]+?\.(?:ipynb|md))(?P<anchor>#[^"]*)?"')


def _site_url(target: str, page_src: str) -> str:
    """Return the site URL, relative to the notebook's page, of a link written for Jupyter."""
    source = posixpath.normpath(posixpath.join(posixpath.dirname(page_src), target))
    if source.startswith("docs/"):
        source = source[len("docs/") :]  # notebooks/../docs/x.md is the docs page x.md
    page = posixpath.splitext(source)[0]
    directory = "." if page == "index" else page
    # The notebook's page is notebooks/NAME/, one level below its source's directory.
    here = posixpath.splitext(page_src)[0]
    return posixpath.relpath(directory, here) + "/"


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Fail on a leftover reST role; rewrite a notebook's Jupyter-style links to site URLs."""
    source = page.file.src_uri
    leftover = SPHINX_ROLE.search(html)
    if leftover:
        context = html[max(0, leftover.start() - 60) : leftover.end() + 40]
        raise PluginError(
            f"{source}: a reST role prints literally ({context!r}); write cross-references "
            "as [`name`][ipyws.path] (mkdocstrings' Markdown style)"
        )
    if not source.endswith(".ipynb"):
        return html

    def rewrite(match: re.Match[str]) -> str:
        url = _site_url(match["target"], source)
        return f'href="{url}{match["anchor"] or ""}"'

    return _HREF.sub(rewrite, html)
