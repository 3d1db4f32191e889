"""docs/protocol.md as HTML, for ``/docs/protocol/``.

Rendered with markdown-it-py (CommonMark + tables) with raw HTML turned off: any HTML in the
file is shown as text, and links with a script-capable scheme (``javascript:``, ``data:``...)
are not turned into links. Headings get GitHub's anchor ids, so the file's own table of
contents (``#rest-endpoints``) works on the page as it does on GitHub. Rendered again only
when the file changes.
"""
import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from markdown_it import MarkdownIt

PROTOCOL_MD = Path(settings.BASE_DIR) / "docs" / "protocol.md"


def github_slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _heading_ids(state) -> None:
    seen: dict[str, int] = {}
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[index + 1]
        text = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
        slug = github_slug(text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        token.attrSet("id", f"{slug}-{count}" if count else slug)


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("heading_ids", _heading_ids)
    return md


@lru_cache(maxsize=4)
def _render(path: Path, mtime_ns: int) -> str:
    return _renderer().render(path.read_text(encoding="utf-8"))


def protocol_html(path: Path | None = None) -> str:
    path = path or PROTOCOL_MD
    return _render(path, path.stat().st_mtime_ns)
