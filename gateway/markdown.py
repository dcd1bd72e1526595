"""A task's description, as the host wrote it in Markdown, rendered to HTML a page may insert as it is: CommonMark with
raw HTML disabled (a `<script>` or an `<img onerror>` is shown as text), links and images only to http(s), mailto or
relative addresses (anything else stays text), and every link marked `rel="nofollow noopener"`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import msgspec
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from proto.submissions import TaskList

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")  # RFC 3986: a scheme is what comes before the first ':'


def allowed_link(url: str) -> bool:
    """Whether a link (or an image's source) may be rendered: a relative address, or one of the allowed schemes.
    markdown-it's own check only drops javascript:, vbscript:, file: and most data: addresses."""
    scheme = _SCHEME.match(url.strip())
    return scheme is None or scheme.group(1).lower() in ALLOWED_SCHEMES


def _link_open(renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict,
               env: EnvType) -> str:
    tokens[index].attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, index, options, env)


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False})
    parser.validateLink = allowed_link  # type: ignore[method-assign]  # markdown-it's documented hook
    parser.add_render_rule("link_open", _link_open)
    return parser


_MARKDOWN = _parser()


@lru_cache(maxsize=256)  # the task list is asked often and descriptions change rarely
def render(markdown: str) -> str:
    return _MARKDOWN.render(markdown) if markdown.strip() else ""


def with_html(tasks: TaskList) -> TaskList:
    """The task list with each task's `description_html` filled from its Markdown."""
    return msgspec.structs.replace(tasks, tasks=[
        msgspec.structs.replace(task, description_html=render(task.description)) for task in tasks.tasks])
