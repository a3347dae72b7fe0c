"""What a release does to the database: the stored risk and access results, read back."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from migrations_ops.analysis.selectors import release_analysis
from release_portal.api.auth import release_for, require_scope
from release_portal.api.schemas import ERRORS, AnalysisOut, ErrorOut, ReleaseId

router = Router(tags=["analysis"])


@router.get(
    "/releases/{release_id}/analysis",
    response={200: AnalysisOut, ERRORS: ErrorOut},
    summary="What the release does to the database: locks, rewrites, data loss, access",
)
def read_analysis(request: HttpRequest, release_id: ReleaseId) -> Any:
    """From the newest `risk` and `access` jobs that succeeded for the release (each
    null until one has; `job.current` is false when it ran on older migrations than the
    release's current ones). `risk.statements` lists every pending statement, riskiest
    and most hazardous first, each with at least `file`, `line` (1-based), `tables`,
    `lock` (PostgreSQL's lock mode, e.g. `ACCESS EXCLUSIVE`, or null), `rewrites`,
    `destroys` (a count or null) and `hazards`. `risk.data_loss` lists each loss with
    `backup` (whether the release's newest verified backup holds those rows, and why)
    and `rollback` (the rollback plan's step that would bring them back, and what it
    loses). `access.changes` lists the matrix cells the release changes. Scope: `read`."""
    token = require_scope(request, "read")
    return Status(200, release_analysis(release_for(token, release_id)))
