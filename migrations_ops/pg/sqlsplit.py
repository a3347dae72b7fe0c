"""Split a migration file into statements exactly the way the Supabase CLI does.

The CLI does not parse SQL: it runs a small state machine over the text and cuts at
every ``;`` that is not inside a quote, a comment, a dollar-quoted body, a ``( ... )``
group or a ``BEGIN ATOMIC ... END`` body. Each piece is then trimmed (trailing ``;``
first, then white space) and empty pieces are dropped. The pieces are what the CLI sends
to PostgreSQL one by one and what it stores in ``schema_migrations.statements``, so the
dry run must cut at the same places, quirks included:

- ``E'it\\'s'``: a backslash does not escape a quote inside a string, but a backslash
  outside one swallows the next character (``\\;`` never splits);
- a ``(`` group ends at the first ``)`` seen at *any* depth, so ``(a; (b); c)`` is cut
  after ``(b)``;
- ``BEGIN ATOMIC`` bodies end at the first ``END`` outside quotes, even inside a word
  such as ``append``;
- ``/*/`` closes a block comment; a comment-only piece is still a statement (PostgreSQL
  answers it with an empty result).

Followed: supabase/cli ``pkg/parser/state.go`` and ``pkg/parser/token.go`` (``Split``,
``SplitAndTrim``), and the current CLI's port of them,
``apps/cli/src/legacy/shared/legacy-sql-split.ts``, whose ``BEGIN ATOMIC`` test also
requires the word ``BEGIN`` before ``ATOMIC`` (so a column named ``is_atomic`` no longer
opens a body). Characters are Unicode code points, as in the TypeScript port.

Unlike the CLI, every statement keeps where it starts in the file (offset and line), so a
failure can be reported as "line 42" instead of "statement 7".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN_ATOMIC = "ATOMIC"
END_ATOMIC = "END"
# The first line the CLI recognises as "run this file without a transaction" (pg-delta).
NO_TRANSACTION_DIRECTIVE = "-- pg-delta: transaction=false"

_READY_SPECIALS = "$'\"-/\\;(cC"


@dataclass(frozen=True)
class Statement:
    """One statement as the CLI would send it, and where it starts in the file."""

    index: int  # 0-based position among the file's statements (the CLI's "At statement: N")
    text: str  # trimmed: no surrounding white space, no trailing ';'
    offset: int  # character offset of ``text`` in the file
    line: int  # 1-based line of the statement's first character

    @property
    def number(self) -> int:
        """1-based, for people."""
        return self.index + 1

    def line_at(self, position: int) -> int:
        """The file line of a 1-based character ``position`` inside ``text``.

        PostgreSQL reports error positions this way (``diag.statement_position``).
        """
        position = max(1, min(position, len(self.text) + 1))
        return self.line + self.text.count("\n", 0, position - 1)


def _is_identifier_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch in "_$"


def _is_tag_char(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal() or ch == "_"


def _is_begin_atomic(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` (the statement so far) ends with ``BEGIN ATOMIC``."""
    offset = end - len(BEGIN_ATOMIC)
    if offset < start or text[offset:end].upper() != BEGIN_ATOMIC:
        return False
    if offset > start and _is_identifier_char(text[offset - 1]):
        return False
    prefix = text[start:offset].rstrip()
    if not prefix.upper().endswith("BEGIN"):
        return False
    before = len(prefix) - len("BEGIN")
    return before == 0 or not _is_identifier_char(prefix[before - 1])


# The states of the CLI's machine. ``next`` returns the following state, or None to end
# the statement at this character. States may be mutated (Quote.escape, Block.depth)
# and, as in the CLI, a state that answered None inside a group is kept as it was.
class _State:
    __slots__ = ()


class _Ready(_State):
    __slots__ = ()


_READY = _Ready()


class _Comment(_State):  # saw one '-'
    __slots__ = ()


class _Block(_State):
    __slots__ = ("depth",)

    def __init__(self) -> None:
        self.depth = 0


class _Quote(_State):
    __slots__ = ("delimiter", "escape")

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.escape = False


class _Dollar(_State):  # inside $tag$ ... $tag$, or a -- comment (delimiter "\n")
    __slots__ = ("delimiter",)

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter


class _Tag(_State):  # saw '$', maybe the start of $tag$
    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Escape(_State):  # saw '\', the next character is taken as is
    __slots__ = ()


class _Group(_State):
    """A ``( ... )`` or ``BEGIN ATOMIC ... END`` body opened by the Ready state."""

    __slots__ = ("delimiter",)

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter


class _Machine:
    """The CLI's state machine over one file; ``groups`` is the chain of open groups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.start = 0  # offset where the current statement began
        self.groups: list[str] = []  # delimiters of the open groups, innermost last
        self.inner: _State = _READY  # the state inside the innermost group

    def ready_next(self, ch: str, i: int) -> _State | None:
        if ch == "$":
            return _Tag(i)
        if ch == "'" or ch == '"':
            return _Quote(ch)
        if ch == "-":
            return _Comment()
        if ch == "/":
            return _Block()
        if ch == "\\":
            return _Escape()
        if ch == ";":
            return None
        if ch == "(":
            return _Group(")")
        if (ch == "c" or ch == "C") and _is_begin_atomic(self.text, self.start, i + 1):
            return _Group(END_ATOMIC)
        return _READY

    def state_next(self, state: _State, ch: str, i: int) -> _State | None:
        if state is _READY:
            return self.ready_next(ch, i)
        text = self.text
        if isinstance(state, _Dollar):
            size = len(state.delimiter)
            lo = i + 1 - size
            if lo >= self.start and text[lo : i + 1] == state.delimiter:
                return _READY
            return state
        if isinstance(state, _Quote):
            if state.escape:
                if ch == state.delimiter:  # a doubled quote stays inside the string
                    state.escape = False
                    return state
                return self.ready_next(ch, i)
            if ch == state.delimiter:
                state.escape = True
            return state
        if isinstance(state, _Comment):
            if ch == "-":
                return _Dollar("\n")
            return self.ready_next(ch, i)
        if isinstance(state, _Block):
            window = text[i - 1 : i + 1] if i - 1 >= self.start else ""
            if window == "/*":
                state.depth += 1
                return state
            if state.depth == 0:
                return self.ready_next(ch, i)
            if window == "*/":
                state.depth -= 1
                if state.depth == 0:
                    return _READY
            return state
        if isinstance(state, _Tag):
            if ch == "$":
                return _Dollar(text[state.offset : i + 1])
            if _is_tag_char(ch):
                return state
            return self.ready_next(ch, i)
        if isinstance(state, _Escape):
            return _READY
        raise AssertionError(f"unknown state {state!r}")

    def step(self, ch: str, i: int) -> bool:
        """Feed character ``i``; True when the statement ends here."""
        following = self.state_next(self.inner, ch, i)
        if following is None:
            # Outside any group ';' ends the statement; inside one the CLI keeps the
            # state that answered (AtomicState only replaces prev on a non-nil answer).
            return not self.groups
        if isinstance(following, _Group):
            self.groups.append(following.delimiter)
            self.inner = _READY
            return False
        self.inner = following
        # A group closes when its inner state is Ready and the text ends with its
        # delimiter; the outer group then looks at the same character, and so on.
        while self.groups and self.inner is _READY:
            delimiter = self.groups[-1]
            lo = i + 1 - len(delimiter)
            if lo < self.start or self.text[lo : i + 1].upper() != delimiter:
                break
            self.groups.pop()
        return False

    def skip_to(self, i: int) -> int:
        """The next offset at or after ``i`` where the machine may change state."""
        state, text = self.inner, self.text
        if state is _READY:
            pattern = _READY_SKIP[self.groups[-1] if self.groups else ""]
            found = pattern.search(text, i)
            return found.start() if found else len(text)
        if isinstance(state, _Dollar):
            size = len(state.delimiter)
            j = text.find(state.delimiter, max(i + 1 - size, self.start))
            return j + size - 1 if j >= 0 else len(text)
        if isinstance(state, _Quote) and not state.escape:
            j = text.find(state.delimiter, i)
            return j if j >= 0 else len(text)
        return i


_READY_SKIP = {
    "": re.compile("[" + re.escape(_READY_SPECIALS) + "]"),
    ")": re.compile("[" + re.escape(_READY_SPECIALS + ")") + "]"),
    END_ATOMIC: re.compile("[" + re.escape(_READY_SPECIALS + "dD") + "]"),
}


def split_raw(text: str) -> list[tuple[int, str]]:
    """The untrimmed pieces ``(offset, text)``, as ``parser.Split`` emits them."""
    machine = _Machine(text)
    pieces: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        i = machine.skip_to(i)
        if i >= n:
            break
        if machine.step(text[i], i):
            pieces.append((machine.start, text[machine.start : i + 1]))
            machine.start = i + 1
            machine.groups = []
            machine.inner = _READY
        i += 1
    if machine.start < n:
        pieces.append((machine.start, text[machine.start :]))
    return pieces


def split_statements(text: str) -> list[Statement]:
    """Statements the CLI would run for this file content, with their lines.

    A leading byte order mark is dropped, as the current CLI does.
    """
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # keep offsets; the space is trimmed like any white space
    statements: list[Statement] = []
    line, counted_to = 1, 0
    for offset, raw in split_raw(text):
        trimmed = raw.rstrip(";").strip()
        if not trimmed:
            continue
        begin = offset + (len(raw) - len(raw.lstrip()))
        line += text.count("\n", counted_to, begin)
        counted_to = begin
        statements.append(Statement(index=len(statements), text=trimmed, offset=begin, line=line))
    return statements


def has_no_transaction_directive(text: str) -> bool:
    """Whether the file's first line is the CLI's "run without a transaction" directive."""
    first = text.removeprefix("\ufeff").split("\n", 1)[0].removesuffix("\r")
    return first == NO_TRANSACTION_DIRECTIVE


# Statement kinds the current CLI treats specially (apps/cli/src/legacy/shared/
# legacy-migration-apply.ts: legacyIsPipelineIncompatible, legacyHasTransactionControl).
_PIPELINE_INCOMPATIBLE = [
    re.compile(p)
    for p in (
        r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY(?:\s|$)",
        r"^DROP\s+INDEX\s+CONCURRENTLY(?:\s|$)",
        r"^REINDEX(?:\s|\().*\sCONCURRENTLY(?:\s|$)",
        r"^VACUUM(?:\s|\(|$)",
        r"^ALTER\s+SYSTEM(?:\s|$)",
        r"^CLUSTER(?:\s|$)",
        r"^(?:CREATE|DROP)\s+DATABASE(?:\s|$)",
        r"^(?:CREATE|DROP)\s+TABLESPACE(?:\s|$)",
        r"^REINDEX(?:\s+\([^)]*\))?\s+(?:DATABASE|SYSTEM|SCHEMA)(?:\s|$)",
        r"^(?:CREATE|DROP)\s+SUBSCRIPTION(?:\s|$)",
        r"^DISCARD\s+ALL(?:\s|$)",
        r"^ALTER\s+DATABASE\s+(?:\"[^\"]*\"|\S+)\s+SET\s+TABLESPACE(?:\s|$)",
        r"^ALTER\s+SUBSCRIPTION\s+(?:\"[^\"]*\"|\S+)\s+"
        r"(?:REFRESH\s+PUBLICATION|(?:SET|ADD|DROP)\s+PUBLICATION)(?:\s|$)",
        r"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:\"[^\"]*\"|\S+)\s+DETACH\s+"
        r"PARTITION\s+(?:\"[^\"]*\"|\S+)\s+(?:CONCURRENTLY|FINALIZE)(?:\s|$)",
    )
]
_TRANSACTION_CONTROL = re.compile(
    r"^(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ABORT|PREPARE\s+TRANSACTION)(?:\s|$)"
)


def strip_leading_comments(text: str) -> str:
    """The statement without the white space and comments before its first keyword."""
    rest = text.lstrip(" \t\n\r\ufeff")
    while True:
        if rest.startswith("--"):
            newline = rest.find("\n")
            if newline < 0:
                return ""
            rest = rest[newline + 1 :].lstrip(" \t\n\r")
        elif rest.startswith("/*"):
            close = rest.find("*/")
            if close < 0:
                return rest
            rest = rest[close + 2 :].lstrip(" \t\n\r")
        else:
            return rest.strip()


def cannot_run_in_transaction(text: str) -> bool:
    """``CREATE INDEX CONCURRENTLY``, ``VACUUM``, ``CREATE DATABASE``... (the CLI's list).

    PostgreSQL refuses these inside a transaction block with SQLSTATE 25001. Some others
    (``ALTER TYPE ... ADD VALUE`` before PostgreSQL 12) are only found by running them.
    """
    upper = strip_leading_comments(text).upper()
    return any(p.search(upper) for p in _PIPELINE_INCOMPATIBLE)


def is_transaction_control(text: str) -> bool:
    """``BEGIN``, ``COMMIT``, ``ROLLBACK`` (but not ``ROLLBACK TO``), ``END``..."""
    upper = strip_leading_comments(text).upper()
    words = upper.split()
    if words and words[0] == "ROLLBACK":
        to_index = 2 if len(words) > 1 and words[1] in ("WORK", "TRANSACTION") else 1
        return not (len(words) > to_index and words[to_index] == "TO")
    return bool(_TRANSACTION_CONTROL.search(upper))
