"""The target's deploy lock: a deploy and a rollback never run on one database at once.

Two locks, both PostgreSQL session advisory locks held for the whole job:

- ``target_lock(target_id)`` on the portal's own database, keyed by the Target's id: every
  worker of this portal shares it, whichever machine it runs on. The job context takes
  it for ``rollback`` jobs (and ``apply`` jobs, so a deploy waits for a rollback and the
  other way round). A second job is refused at once with a message naming the holder.
- ``target_database_lock(conn)`` on the target database itself, with the key the apply
  runner uses (``rp_apply``): even two portals, or a person's tooling that honours it,
  never interleave.

A rollback started from an incident also takes checklists.deployments.services' lock first: a
Deployment record (kind rollback) that refuses to start while a deployment CI reported is
still started on the target, and that the job's end finishes (incidents.services).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psycopg
from django.conf import settings

from migrations_ops.pg import pgtools
from migrations_ops.runners.base import RunnerError

# pg_advisory_lock(int4, int4): ("rpdl" = "release portal deploy lock", target id).
DEPLOY_LOCK_CLASS = int.from_bytes(b"rpdl", "big") & 0x7FFF_FFFF
# The key migrations_ops.runners.apply holds on the target database ("rp_apply").
TARGET_DATABASE_LOCK_KEY = int.from_bytes(b"rp_apply", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _portal_database_url() -> str:
    return pgtools.portal_server_url(str(settings.DATABASES["default"]["NAME"]))


@contextlib.contextmanager
def target_lock(
    target_id: int, *, target_name: str, holder: Callable[[], str] | None = None
) -> Iterator[None]:
    """Hold the deploy lock of target ``target_id`` (refused at once if someone else has it).

    ``holder`` describes who holds it, for the refusal ("rollback #12 of release #3").
    The lock lives on its own connection, so nothing the job does to Django's connection
    (reconnects, transactions) can release it early; closing it releases the lock even
    if the worker dies.
    """
    try:
        conn = psycopg.connect(_portal_database_url(), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as e:
        raise RunnerError(f"could not take the deploy lock of {target_name}: {e}") from None
    with conn:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [DEPLOY_LOCK_CLASS, target_id]
        ).fetchone()
        if not row or not row[0]:
            who = holder() if holder else ""
            raise RunnerError(
                f"{target_name} is locked by {who or 'another deployment or rollback'}: a "
                "deploy and a rollback never run on one database at once. Wait for it to "
                "finish, then start this job again"
            )
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", [DEPLOY_LOCK_CLASS, target_id])


def target_database_lock(conn: psycopg.Connection, target_name: str) -> None:
    """Take the apply runner's session lock on the target database (until ``conn`` closes)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [TARGET_DATABASE_LOCK_KEY]).fetchone()
    if not row or not row[0]:
        raise RunnerError(
            f"a migration apply or another rollback is running against {target_name} right "
            "now (it holds the portal's apply lock): wait for it to finish, then run the "
            "rollback again"
        )
