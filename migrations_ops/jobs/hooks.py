"""What the features plug into the job engine, which imports none of them.

Each feature registers its hooks in its ``AppConfig.ready()``:

- ``set_workspace(fn)``: ``fn(job)`` is a context manager yielding the folder a job of a
  release runs on (checklists: the release's bundle unpacked), removed afterwards;
- ``add_options(fn)``: ``fn(job)`` is a context manager yielding options for the job's
  context, held until the job ends (backups: the dump to write or check, the rollback
  plan, the target's deploy lock); entered in registration order;
- ``on_job_end(name, fn)``: ``fn(job)`` runs inside the transaction that finishes a job
  (its writes commit or roll back with the job's end), in ``END_ORDER``. The hooks in
  ``EVERY_KIND`` run for every job; the others only for the kinds whose registry entry
  names them (``JobKind.ends``). A name outside ``END_ORDER`` (a test's) runs last, for
  every job. Hooks must be quick and must not talk to the network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from migrations_ops.models import Job

END_ORDER: tuple[str, ...] = (
    "backups.manifest",  # a backup's manifest row, and its restore check queued
    "backups.verification",  # a restore check's verification (evidence next)
    "rollback.rehearsal",  # a rehearsal marks its plan and its evidence
    "incidents.timeline",  # an incident hears of its jobs; a rollback ends its deployment
    "checklists.evidence",  # evidence for every item whose step names the kind
    "deployments.finish",  # a production apply job finishes its deployment
    "webhooks.failed",  # a failed job is announced
)
EVERY_KIND = frozenset({"incidents.timeline", "checklists.evidence", "webhooks.failed"})

Workspace = Callable[[Job], AbstractContextManager[Path]]
OptionsHook = Callable[[Job], AbstractContextManager[dict[str, Any]]]
EndHook = Callable[[Job], object]

_workspace: list[Workspace] = []
_options: list[OptionsHook] = []
_end: dict[str, EndHook] = {}


def set_workspace(fn: Workspace) -> None:
    _workspace[:] = [fn]


def add_options(fn: OptionsHook) -> None:
    if fn not in _options:
        _options.append(fn)


def on_job_end(name: str, fn: EndHook) -> None:
    _end[name] = fn


def remove_job_end(name: str) -> None:
    _end.pop(name, None)


@contextlib.contextmanager
def workspace(job: Job) -> Iterator[Path | None]:
    """The job's files (None when no feature provides them)."""
    if not _workspace:
        yield None
        return
    with _workspace[0](job) as root:
        yield root


@contextlib.contextmanager
def feature_options(job: Job) -> Iterator[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        options: dict[str, Any] = {}
        for fn in _options:
            options.update(stack.enter_context(fn(job)))
        yield options


def job_ended(job: Job, *, ends: tuple[str, ...]) -> None:
    """Run the end hooks for ``job`` (of a kind whose registry entry names ``ends``)."""
    wanted = EVERY_KIND | set(ends)
    for name in END_ORDER:
        if name in wanted and name in _end:
            _end[name](job)
    for name, fn in list(_end.items()):
        if name not in END_ORDER:
            fn(job)
