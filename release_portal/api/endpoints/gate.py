"""The gate: may production deploy this release now?"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from checklists.deployments.gate import gate_status, waiver_entry
from checklists.models import Waiver
from release_portal.api import presenters
from release_portal.api.auth import release_for, require_scope
from release_portal.api.schemas import ERRORS, ErrorOut, GateOut, ReleaseId, WaiverOut

router = Router(tags=["gate"])


@router.get(
    "/releases/{release_id}/gate",
    response={200: GateOut, 409: GateOut, ERRORS - {409}: ErrorOut},
    summary="Ask the gate: 200 with the approved digest, or 409 with what is missing",
)
def release_gate(request: HttpRequest, release_id: ReleaseId) -> Any:
    """**200** `{"open": true, "digest": ...}` when the release has migration files, every
    checklist item is done or not applicable, every evidence-required item's check passed
    for the current content digest (or an approved waiver lets it past: `waivers`), every
    required sign-off is current and no freeze window is on; or a platform lead broke the
    glass for this digest (`override`; confirmed by a second platform lead where the
    project asks for one).

    **409** otherwise, with `reasons` in sentences and, in detail: `failed_checks` (each
    evidence-required item whose latest automated result for this content failed or is
    missing, with the failed sources by kind and job id: a tick, a link or a comment never
    overrides them), `has_migrations: false` (nothing to approve), each open item (step
    key, text, owner), each missing or stale sign-off, the freeze window, an unconfirmed
    break-glass (`override_unconfirmed`), or the release state that prevents deploying.
    Approved waivers are listed in both answers.

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


@router.get(
    "/releases/{release_id}/waivers",
    response={200: list[WaiverOut], ERRORS: ErrorOut},
    summary="The release's approved waivers for its current content",
)
def release_waivers(request: HttpRequest, release_id: ReleaseId) -> Any:
    """The waivers that let evidence-required items past a failed or missing check for the
    release's content as it is now: each with its reason, who asked, and the second
    person who approved. A waiver is for one content digest: new files make it stale.

    Read-only: asking for, approving and withdrawing a waiver needs two people with their
    own sign-in (release page), which a project token is not. Scope: `read`."""
    token = require_scope(request, "read")
    release = release_for(token, release_id)
    waivers = (
        Waiver.objects.active()
        .filter(release=release)
        .select_related("item__step", "asked_by", "approved_by")
        .order_by("item__step__position", "pk")
    )
    return Status(200, [waiver_entry(w) for w in waivers])
