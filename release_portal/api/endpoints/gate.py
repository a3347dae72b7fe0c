"""The gate: may production deploy this release now?"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from checklists.deployments.gate import gate_status
from release_portal.api import presenters
from release_portal.api.auth import release_for, require_scope
from release_portal.api.schemas import ERRORS, ErrorOut, GateOut, ReleaseId

router = Router(tags=["gate"])


@router.get(
    "/releases/{release_id}/gate",
    response={200: GateOut, 409: GateOut, ERRORS - {409}: ErrorOut},
    summary="Ask the gate: 200 with the approved digest, or 409 with what is missing",
)
def release_gate(request: HttpRequest, release_id: ReleaseId) -> Any:
    """**200** `{"open": true, "digest": ...}` when every checklist item is done or not
    applicable, every required sign-off is current and no freeze window is on, or a
    platform lead broke the glass for this digest (`override`).

    **409** otherwise, listing each open item (step key, text, owner), each missing or
    stale sign-off, the freeze window, or the release state that prevents deploying.

    `risk` is the project's "high-risk release requires the SRE's sign-off" rule (null
    when the setting is off): its `code` is `risk_result_missing` when no risk job
    succeeded for the release's current content, `high_risk_needs_sre_signoff` when the
    current risk result is high and the SRE's sign-off is not current, else null; its
    `message` is also among `reasons`. Deploy exactly the `digest` answered. Scope:
    `read` or `deploy`."""
    token = require_scope(request, "read", "deploy")
    release = release_for(token, release_id)
    result = gate_status(release)
    return Status(200 if result.open else 409, presenters.gate(release, result))
