"""The gate's one rule about risk (the project's "high-risk release requires the SRE's
sign-off" setting, on by default).

With the setting on, the gate needs a risk result (a ``risk`` job that succeeded) for
the release's current content digest; when that result rates the release high, the SRE's
sign-off is required (``rules.signoff_kinds_required`` asks ``needs_sre_signoff``). Off,
the risk job stays information only.

The release's current risk is read once per release object (one query), so the page, the
sign-off rules and the gate share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db.models.fields.json import KT

from migrations_ops.models import Job

MISSING = "risk_result_missing"
HIGH_RISK = "high_risk_needs_sre_signoff"


@dataclass(frozen=True)
class CurrentRisk:
    """The newest succeeded risk result for the release's current content (or none)."""

    job: int | None
    level: str | None


def current_risk(release: Any) -> CurrentRisk:
    """The release's current risk result; memoised on the release object per content."""
    memo = getattr(release, "_current_risk", None)
    if memo is not None and memo[0] == release.content_digest:
        return memo[1]
    row = (
        Job.objects.filter(
            release_id=release.pk,
            kind=Job.Kind.RISK,
            state=Job.State.SUCCEEDED,
            content_digest=release.content_digest,
        )
        .order_by("-finished_at", "-pk")
        .values("pk", level=KT("result__level"))
        .first()
    )
    found = CurrentRisk(job=row["pk"], level=row["level"]) if row else CurrentRisk(None, None)
    release._current_risk = (release.content_digest, found)
    return found


def needs_sre_signoff(release: Any) -> bool:
    """With the setting on, a release its current risk result rates high needs the SRE."""
    if not release.project.high_risk_requires_sre:
        return False
    return current_risk(release).level == "high"


@dataclass(frozen=True)
class RiskGate:
    """What the rule says about the release now: ``code`` is None when it holds nothing."""

    required: bool
    code: str | None
    message: str
    level: str | None
    job: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(release: Any, *, sre_signed: bool) -> RiskGate | None:
    """The rule's answer (None when the project's setting is off).

    ``sre_signed``: whether a current SRE sign-off exists (the gate knows it).
    """
    if not release.project.high_risk_requires_sre:
        return None
    risk = current_risk(release)
    if risk.job is None:
        return RiskGate(
            required=True,
            code=MISSING,
            message="no risk result for the release's current migrations: run the "
            "“Release risk” job (part of the pre-flight)",
            level=None,
            job=None,
        )
    if risk.level == "high" and not sre_signed:
        return RiskGate(
            required=True,
            code=HIGH_RISK,
            message=f"the release is high risk (risk job #{risk.job}): the SRE's sign-off is "
            "required",
            level=risk.level,
            job=risk.job,
        )
    return RiskGate(required=True, code=None, message="", level=risk.level, job=risk.job)
