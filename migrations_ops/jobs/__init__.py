"""The job engine. The Job row is the truth; a Celery message only says "job N is ready".

- services: ``job_enqueue``, ``job_cancel``, ``job_retry``, ``preflight_start``
- engine: ``job_execute`` (what a worker runs: claim, heartbeat, log, finish)
- recovery: ``jobs_sweep`` and ``jobs_reap`` (Celery beat)
- kinds: queue, time limits, attempts and permission per job kind
"""

from migrations_ops.jobs.engine import job_execute
from migrations_ops.jobs.kinds import PREFLIGHT_KINDS, action_for
from migrations_ops.jobs.recovery import jobs_reap, jobs_sweep
from migrations_ops.jobs.services import job_cancel, job_enqueue, job_retry, preflight_start

__all__ = [
    "PREFLIGHT_KINDS",
    "action_for",
    "job_cancel",
    "job_enqueue",
    "job_execute",
    "job_retry",
    "jobs_reap",
    "jobs_sweep",
    "preflight_start",
]
