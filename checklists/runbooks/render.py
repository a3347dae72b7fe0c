"""Runbook markdown as HTML that is safe to put in a page.

Two layers: markdown-it renders with raw HTML disabled (so `<script>` in the markdown
comes out as text) and refuses javascript:/vbscript:/data: links; nh3 then keeps only
an allow-list of tags and attributes and http(s)/mailto URLs. No style attributes
survive (the CSP forbids them), nor images (no third-party requests from our pages).
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe

from checklists.runbooks.parse import markdown_parser

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li",
    "code", "pre", "em", "strong", "del", "s", "blockquote",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def render_markdown(source: str) -> SafeString:
    html = markdown_parser().render(source)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


def render_inline(text: str) -> SafeString:
    """One line of runbook text (a step, a lint message) with its `code` spans, sanitised."""
    html = markdown_parser().renderInline(text)
    clean = nh3.clean(
        html,
        tags={"code", "em", "strong", "a", "del", "s"},
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above
