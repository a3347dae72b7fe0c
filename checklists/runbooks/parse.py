"""Reading a runbook: markdown in, title, sections, steps and change log out.

The markdown is parsed once by markdown-it-py (CommonMark plus GFM tables) and every
fact is read from its token stream, never from regexes over raw lines: a task-list
item is a list item whose paragraph starts with ``[ ]``, the §7 change log is a
``table`` token under the "Change Log" heading. Anything a person could get wrong
raises ``RunbookImportError`` with the line and what to do; nothing is stored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.text import slugify
from markdown_it import MarkdownIt
from markdown_it.token import Token

from checklists.runbooks.defaults import step_defaults

MAX_BYTES = 1024 * 1024
KEY_WORDS = 5
KEY_MAX = 80
_TASK_MARKS = ("[ ] ", "[x] ", "[X] ")
# Words that carry no meaning in a step key ("Run the ... on the ...").
_KEY_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "if", "in", "into",
    "is", "it", "of", "on", "or", "the", "to", "with",
})  # fmt: skip
HISTORY_COLUMNS = {"date": ("date",), "by": ("updated by", "by", "author"), "notes": ("notes",)}


class RunbookImportError(ValueError):
    """The file cannot become a runbook version; the message says why and where."""


@dataclass
class ParsedStep:
    position: int
    section: str
    subsection: str
    key: str
    text: str
    line: int
    owner: str
    evidence_kinds: list[str]
    requires_evidence: bool
    is_signoff: bool

    def as_model_fields(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "section": self.section[:200],
            "key": self.key,
            "text": self.text,
            "owner": self.owner,
            "evidence_kinds": list(self.evidence_kinds),
            "requires_evidence": self.requires_evidence,
            "is_signoff": self.is_signoff,
        }


@dataclass
class ParsedRunbook:
    title: str
    source: str
    source_sha256: str
    sections: list[dict[str, Any]] = field(default_factory=list)
    steps: list[ParsedStep] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)


def markdown_parser() -> MarkdownIt:
    """CommonMark with GFM tables; raw HTML is never passed through."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def decode_source(source_bytes: bytes) -> str:
    """UTF-8 text from an upload, or a RunbookImportError naming the problem."""
    if not source_bytes or not source_bytes.strip():
        raise RunbookImportError("The file is empty: upload the runbook's markdown.")
    if len(source_bytes) > MAX_BYTES:
        raise RunbookImportError(
            f"The file is {len(source_bytes):,} bytes; a runbook may be at most "
            f"{MAX_BYTES:,} bytes (1 MB). Is this the right file?"
        )
    try:
        text = source_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        line = source_bytes[: e.start].count(b"\n") + 1
        raise RunbookImportError(
            f"The file is not UTF-8 text: byte {e.start} (line {line}) is "
            f"0x{source_bytes[e.start]:02x}. Save it as UTF-8 and upload it again."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise RunbookImportError(
            f"The file contains a NUL byte on line {line}: it looks like a binary file, "
            "not markdown."
        )
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _one_line(text: str) -> str:
    """Continuation lines joined into one: newlines and their indentation become a space."""
    return re.sub(r"\s+", " ", text).strip()


def _step_key(text: str, taken: set[str]) -> str:
    """A slug from the first meaningful words: stable while the text's start is unchanged.

    Earlier steps keep the short key; a later step whose first words collide takes more
    words, then a number, so keys stay unique within a version.
    """
    # Punctuation separates words: `supabase/migrations` → supabase, migrations.
    words = [w for w in slugify(re.sub(r"[\W_]+", " ", text)).split("-") if w]
    meaningful: list[str] = []
    for word in words:
        if word not in _KEY_STOPWORDS and word not in meaningful:
            meaningful.append(word)
    meaningful = meaningful or ["step"]
    for count in range(min(KEY_WORDS, len(meaningful)), len(meaningful) + 1):
        key = "-".join(meaningful[:count])[:KEY_MAX].strip("-")
        if key not in taken:
            return key
    base = "-".join(meaningful[:KEY_WORDS])[: KEY_MAX - 4].strip("-")
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _heading_text(tokens: list[Token], i: int) -> str:
    inline = tokens[i + 1]
    return _one_line(inline.content)


def _list_item_paragraphs(tokens: list[Token], start: int) -> tuple[list[Token], int]:
    """The inline tokens of the item's own paragraphs (not nested lists), and its end."""
    level = tokens[start].level
    inlines: list[Token] = []
    i = start + 1
    while i < len(tokens):
        t = tokens[i]
        if t.type == "list_item_close" and t.level == level:
            return inlines, i
        if t.type == "inline" and t.level == level + 2:
            inlines.append(t)
        i += 1
    return inlines, i


def _task_text(inlines: list[Token]) -> str | None:
    if not inlines:
        return None
    first = inlines[0].content
    if not first.startswith(_TASK_MARKS) and first.strip() not in {"[ ]", "[x]", "[X]"}:
        return None
    parts = [first[3:]] + [t.content for t in inlines[1:]]
    return _one_line(" ".join(parts))


def _table_rows(tokens: list[Token], start: int) -> tuple[list[tuple[int, list[str]]], int]:
    """(line, cells) for the header and each body row of the table at ``start``."""
    rows: list[tuple[int, list[str]]] = []
    cells: list[str] = []
    line = 0
    i = start + 1
    while i < len(tokens) and tokens[i].type != "table_close":
        t = tokens[i]
        if t.type == "tr_open":
            cells = []
            line = (t.map[0] + 1) if t.map else line + 1
        elif t.type == "inline":
            cells.append(_one_line(t.content))
        elif t.type == "tr_close":
            rows.append((line, cells))
        i += 1
    return rows, i


def _is_change_log(title: str) -> bool:
    return "change log" in title.lower() or "changelog" in title.lower()


def _history_from_table(rows: list[tuple[int, list[str]]]) -> list[dict]:
    header_line, header = rows[0]
    names = [h.lower().replace("(utc)", "").strip() for h in header]
    index: dict[str, int] = {}
    for col, aliases in HISTORY_COLUMNS.items():
        for pos, name in enumerate(names):
            if name in aliases:
                index[col] = pos
                break
    missing = [c for c in HISTORY_COLUMNS if c not in index]
    if missing:
        raise RunbookImportError(
            f"The Change Log table (line {header_line}) needs the columns Date (UTC), "
            f"Updated By and Notes; it has: {', '.join(header) or 'none'}."
        )
    history = []
    for line, cells in rows[1:]:
        row = {col: cells[pos] if pos < len(cells) else "" for col, pos in index.items()}
        try:
            date.fromisoformat(row["date"])
        except ValueError:
            raise RunbookImportError(
                f"Change Log row on line {line}: the date {row['date']!r} is not a date "
                "like 2025-01-19 (YYYY-MM-DD, UTC)."
            ) from None
        if not row["notes"]:
            raise RunbookImportError(f"Change Log row on line {line} has no notes.")
        history.append(row)
    return history


def _check_change_log_section(tokens: list[Token], start: int, end: int, title_line: int) -> list:
    """The history rows of the change-log section between token ``start`` and ``end``."""
    for i in range(start, end):
        t = tokens[i]
        if t.type == "table_open":
            rows, _ = _table_rows(tokens, i)
            return _history_from_table(rows)
    for i in range(start, end):
        t = tokens[i]
        if t.type == "inline" and "|" in t.content:
            line = (t.map[0] + 1) if t.map else title_line
            raise RunbookImportError(
                f"The Change Log table under line {title_line} could not be read "
                f"(line {line}): a table needs a header row, a |---|---| separator row with "
                "one cell per column, and rows starting with |."
            )
    return []


def parse_runbook(text: str) -> ParsedRunbook:
    """Everything the portal needs from a runbook's markdown, or a RunbookImportError."""
    if not text.strip():
        raise RunbookImportError("The file is empty: upload the runbook's markdown.")
    tokens = markdown_parser().parse(text)
    title = ""
    sections: list[dict[str, Any]] = []
    steps: list[ParsedStep] = []
    history: list[dict[str, str]] = []
    section, subsection = "", ""
    change_log: tuple[int, int] | None = None  # (token index after heading, heading line)
    seen_text: dict[str, int] = {}
    taken_keys: set[str] = set()

    def close_change_log(end: int) -> None:
        nonlocal change_log, history
        if change_log is not None:
            history = _check_change_log_section(tokens, change_log[0], end, change_log[1])
            change_log = None

    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "heading_open":
            heading = _heading_text(tokens, i)
            line = (t.map[0] + 1) if t.map else 0
            if t.tag == "h1" and not title:
                title = heading
            elif t.tag == "h2":
                close_change_log(i)
                section, subsection = heading, ""
                sections.append(
                    {"title": heading, "slug": slugify(heading), "line": line, "subsections": []}
                )
                if _is_change_log(heading):
                    change_log = (i + 3, line)
            elif t.tag == "h3" and sections:
                subsection = heading
                sections[-1]["subsections"].append(
                    {"title": heading, "slug": slugify(heading), "line": line}
                )
            i += 3
            continue
        if t.type == "list_item_open":
            inlines, _ = _list_item_paragraphs(tokens, i)
            step_text = _task_text(inlines)
            if step_text is not None:
                line = (t.map[0] + 1) if t.map else 0
                if not step_text:
                    raise RunbookImportError(f"The checklist item on line {line} has no text.")
                normal = step_text.casefold()
                if normal in seen_text:
                    raise RunbookImportError(
                        f"Duplicate step on lines {seen_text[normal]} and {line}: "
                        f"“{step_text[:80]}”. Each `- [ ]` item must say something different; "
                        "remove one or reword it."
                    )
                seen_text[normal] = line
                key = _step_key(step_text, taken_keys)
                taken_keys.add(key)
                defaults = step_defaults(section, step_text)
                steps.append(
                    ParsedStep(
                        position=len(steps) + 1,
                        section=section or title,
                        subsection=subsection,
                        key=key,
                        text=step_text,
                        line=line,
                        **defaults,
                    )
                )
        i += 1
    close_change_log(len(tokens))

    if not title:
        raise RunbookImportError(
            "The runbook has no title: its first heading must be a `# Title` line."
        )
    if len(title) > 200:
        raise RunbookImportError("The runbook's title is longer than 200 characters.")
    if not steps:
        raise RunbookImportError(
            "No checklist found: the runbook has no `- [ ]` task items, so there is nothing "
            "to tick. Write each step as a line starting with `- [ ] `."
        )
    return ParsedRunbook(
        title=title,
        source=text,
        source_sha256=hashlib.sha256(text.encode()).hexdigest(),
        sections=sections,
        steps=steps,
        history=history,
    )


def parse_runbook_bytes(source_bytes: bytes) -> ParsedRunbook:
    return parse_runbook(decode_source(source_bytes))
