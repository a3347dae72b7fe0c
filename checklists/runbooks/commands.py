"""Finding the commands a runbook names: inline code spans and shell-fence lines.

Read from the markdown token stream, so prose that merely mentions a word is never taken
for a command. ``$(...)`` substitutions become one opaque word and lines are split at
shell operators; nothing here is ever executed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from markdown_it.token import Token

from checklists.runbooks.parse import markdown_parser

SHELL_FENCES = {"", "bash", "sh", "shell", "console", "zsh", "terminal"}
_OPERATORS = {";", "&&", "||", "|", "&"}


@dataclass
class Mention:
    """One command as the runbook writes it, with where it stands."""

    text: str
    line: int
    section: str
    context: str = ""  # the paragraph around an inline code span


def _mask_substitutions(text: str) -> str:
    """``$(date -u ...)`` becomes one opaque word, so its flags are not the command's."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append("SUBST")
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_commands(text: str) -> list[list[str]]:
    """argv lists of a shell line, split at ; && || | (None of it is executed.)"""
    lexer = shlex.shlex(_mask_substitutions(text), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quotes: not a command we can read
        return []
    commands: list[list[str]] = []
    current: list[str] = []
    for word in words:
        if word in _OPERATORS:
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    return [c for c in commands if c]


def _line_of(code: str, inline: Token, lines: list[str]) -> int:
    """The line of a code span inside a paragraph that may span several lines."""
    start, end = inline.map or (0, 1)
    words = code.split()
    for candidate in (code, " ".join(words[:2]), words[0] if words else code):
        for idx in range(start, min(end, len(lines))):
            if "`" + candidate in lines[idx]:
                return idx + 1
    return start + 1


def find_commands(source: str) -> list[Mention]:
    """Every inline code span and shell-fence line that starts with a command."""
    lines = source.split("\n")
    mentions: list[Mention] = []
    section = ""
    tokens = markdown_parser().parse(source)
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            section = tokens[i + 1].content.strip()
        elif t.type == "inline" and t.children:
            for child in t.children:
                if child.type == "code_inline" and child.content.strip():
                    at = _line_of(child.content, t, lines)
                    mentions.append(Mention(child.content.strip(), at, section, t.content))
        elif t.type in {"fence", "code_block"} and t.map:
            if t.type == "fence" and t.info.strip().lower() not in SHELL_FENCES:
                continue
            first = t.map[0] + (2 if t.type == "fence" else 1)
            pending, pending_line = "", 0
            for offset, raw in enumerate(t.content.split("\n")):
                line = raw.strip().removeprefix("$ ")
                if not pending:
                    pending_line = first + offset
                if line.endswith("\\"):
                    pending += line[:-1] + " "
                    continue
                text = (pending + line).strip()
                pending = ""
                if text and not text.startswith("#"):
                    mentions.append(Mention(text, pending_line, section))
    return mentions
