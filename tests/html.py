"""Reading rendered HTML in tests: inline scripts, styles and handlers the CSP forbids."""

from __future__ import annotations

from html.parser import HTMLParser


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script":
            if "src" not in names:
                self.problems.append("inline <script>")
            self._in_script = True
        if tag == "style":
            self.problems.append("inline <style>")
        if "style" in names:
            self.problems.append(f"style= attribute on <{tag}>")
        for name in names:
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name.startswith("hx-on"):
                self.problems.append(f"{name}= (htmx eval) on <{tag}>")
        for name, value in attrs:
            if (
                name in {"href", "src", "action"}
                and value
                and value.strip().startswith("javascript:")
            ):
                self.problems.append(f"javascript: URL on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def inline_code(html: str) -> list[str]:
    """Everything in ``html`` a CSP without 'unsafe-inline' would block."""
    finder = _InlineFinder()
    finder.feed(html)
    return finder.problems
