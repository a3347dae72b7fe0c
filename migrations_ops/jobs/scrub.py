"""No server paths in what people read: job log lines, summaries and results.

A worker's output names files on the machine: the pg_dump binary under the virtualenv's
site-packages, the sandbox's job folders, pytest's or the worker's temporary folders, the
backup folder. None of it helps the reader and all of it tells a bundle's author (who can
read the job log) how the portal's machine is laid out. ``scrub_paths`` replaces every
absolute path of two or more parts with what the reader needs: from ``supabase/`` on for
a file of the project's bundle (``supabase/migrations/2024_x.sql``), else its last part
(``pg_dump``).

Log lines, summaries and errors are scrubbed when they are written; results at display
(the job page and ``/jobs/<id>/result.json``), because the features' end hooks still read
the backup's real location from the stored result.
"""

from __future__ import annotations

import re
from typing import Any

# An absolute path: "/" + at least two parts, not inside a word, a relative path or a URL
# ("supabase/migrations", "https://host/x", "10.0.0.0/8" and "s3://bucket/key" stay).
_ABSOLUTE_PATH = re.compile(r"(?<![\w/.~:\-])/(?:[\w.@+\-]+/)+[\w.@+\-]*")
BUNDLE_ROOT = "supabase"


def _readable(match: re.Match[str]) -> str:
    parts = [p for p in match.group(0).split("/") if p]
    if BUNDLE_ROOT in parts[:-1] or (parts and parts[-1] == BUNDLE_ROOT and len(parts) > 1):
        return "/".join(parts[parts.index(BUNDLE_ROOT) :])
    return parts[-1] if parts else match.group(0)


def scrub_paths(text: str) -> str:
    """``text`` with every absolute server path shortened to what a reader needs."""
    if "/" not in text:
        return text
    return _ABSOLUTE_PATH.sub(_readable, text)


def scrub_data(data: Any) -> Any:
    """``data`` (JSON-like) with every text, keys included, scrubbed of server paths."""
    if isinstance(data, str):
        return scrub_paths(data)
    if isinstance(data, dict):
        return {scrub_paths(str(k)): scrub_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v) for v in data]
    return data
