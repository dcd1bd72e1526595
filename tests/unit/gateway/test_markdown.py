"""Task descriptions rendered for participants: Markdown becomes HTML, but no HTML the host wrote passes through, no
link goes anywhere but http(s), mailto or a relative address, and links are marked nofollow."""

from __future__ import annotations

import pytest

from gateway.markdown import allowed_link, render, with_html
from proto.submissions import TaskInfo, TaskList

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    "<iframe src=https://example.org></iframe>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
    "<javascript:alert(1)>",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "[x](file:///etc/passwd)",
]


@pytest.mark.parametrize("markdown", HOSTILE)
def test_no_html_and_no_unsafe_link_passes(markdown: str) -> None:
    html = render(markdown)
    # Whatever the host wrote stays text: no tag of its own, no attribute that loads or links anything.
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<a" not in html, html
    assert 'href="' not in html and 'src="' not in html, html


def test_raw_html_is_shown_as_text() -> None:
    assert render("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    assert render("<img src=x onerror=alert(1)>") == "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"


def test_markdown_renders_and_safe_links_are_kept_with_nofollow() -> None:
    html = render("**Bold**, `code`, [site](https://example.org/a?b=1), [mail](mailto:host@example.org), "
                  "[rules](/rules#scoring), <http://example.org>")
    assert "<strong>Bold</strong>" in html and "<code>code</code>" in html
    for href in ("https://example.org/a?b=1", "mailto:host@example.org", "/rules#scoring", "http://example.org"):
        assert f'<a href="{href}" rel="nofollow noopener">' in html, (href, html)


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://example.org", True), ("HTTP://example.org", True), ("mailto:a@example.org", True), ("/x", True),
    ("x/y.html", True), ("#top", True), ("?q=1", True), ("//example.org/x", True),
    ("javascript:alert(1)", False), ("JAVASCRIPT:x", False), (" javascript:x", False),
    ("data:image/png;base64,A", False),
    ("vbscript:x", False), ("ftp://example.org", False), ("file:///etc/passwd", False), ("tel:123", False),
])
def test_allowed_link(url: str, allowed: bool) -> None:
    assert allowed_link(url) is allowed


def test_a_task_list_gets_each_description_rendered() -> None:
    def task(task_id: str, description: str) -> TaskInfo:
        return TaskInfo(id=task_id, title=task_id, kind="cpu", metric="psnr", sort="desc", daily_quota=1,
                        max_upload_bytes=1, aliases=(), samples=1, sample_names=[], shape=(), phases=(),
                        scorer_version="v", description=description)

    tasks = TaskList(competition="c", tasks=[task("a", "# Title"), task("b", "")], version=3)
    rendered = with_html(tasks)
    assert [t.description_html for t in rendered.tasks] == ["<h1>Title</h1>\n", ""]
    assert rendered.version == 3 and [t.description for t in rendered.tasks] == ["# Title", ""]
