"""Every URL, every persona: anonymous, each role, and a member of another project.

The table below is the single statement of who may reach what. A URL missing from it
fails ``test_every_url_is_in_the_matrix``; each row is then requested as every persona.

Answers: ``OK`` means the request got through the permission checks (any status but
401/403/404 and not a redirect to the login page: a form may still answer 400), ``LOGIN``
a redirect to the login page, and 403/404/401 themselves. Objects of another project
always answer 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from release_portal.accounts.roles import Role

OK, LOGIN = "ok", "login"
PERSONAS = [
    "anonymous",
    "platform_lead",
    "release_engineer",
    "qa_lead",
    "sre",
    "auditor",
    "outsider",
]
ROLES = PERSONAS[1:6]


def everyone(answer: Any) -> dict[str, Any]:
    return dict.fromkeys(PERSONAS, answer)


def members(*allowed: str, outsider: Any = 404) -> dict[str, Any]:
    """A project page or action: the allowed roles get through, other roles 403."""
    allowed_roles = set(allowed or ROLES)
    answers = {"anonymous": LOGIN, "outsider": outsider}
    answers.update({r: OK if r in allowed_roles else 403 for r in ROLES})
    return answers


def signed_in(*allowed: str, outsider: Any = OK) -> dict[str, Any]:
    """A page across projects: anyone signed in, or only some roles (403 for others)."""
    return members(*allowed, outsider=outsider)


LEAD = "platform_lead"
RE = "release_engineer"
QA = "qa_lead"
SRE = "sre"
AUD = "auditor"


@dataclass
class Row:
    method: str
    kwargs: Callable[[dict[str, Any]], dict[str, Any]]
    expect: dict[str, Any]
    data: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda w: {})
    query: str = ""


def r(w: dict[str, Any]) -> dict[str, Any]:
    return {"pk": w["release"].pk}


def p(w: dict[str, Any]) -> dict[str, Any]:
    return {"slug": w["project"].slug}


def none(w: dict[str, Any]) -> dict[str, Any]:
    return {}


def _monitoring_window(w: dict[str, Any]) -> Any:
    """A running post-deploy window of the world's release on a production target."""
    if "window" not in w:
        from datetime import timedelta

        from django.utils import timezone

        from migrations_ops.models import Target
        from migrations_ops.monitoring.models import MonitoringWindow

        production = Target.objects.create(
            project=w["project"], name="production", kind="production",
            url_env_var="MATRIX_PRODUCTION_URL",
        )  # fmt: skip
        now = timezone.now()
        w["window"] = MonitoringWindow.objects.create(
            release=w["release"], target=production, started_at=now,
            ends_at=now + timedelta(minutes=30),
        )  # fmt: skip
    return w["window"]


def _health_query(w: dict[str, Any]) -> Any:
    from migrations_ops.monitoring.services import project_monitoring

    project_monitoring(w["project"])
    return w["project"].health_queries.first()


def _chain_check(w: dict[str, Any]) -> Any:
    from release_portal.audit.models import AuditVerification

    return AuditVerification.objects.create(requested_by_name="auditor")


def _checkpoint(w: dict[str, Any]) -> dict[str, Any]:
    from release_portal.audit.checkpoints import checkpoint_sign

    checkpoint_sign(reason="manual")
    return {}


def _webhook(w: dict[str, Any]) -> Any:
    if "webhook" not in w:
        from release_portal.webhooks.models import Webhook

        w["webhook"] = Webhook.objects.create(
            project=w["project"], name="ops", url="https://hooks.example.com/x",
            events=["job.failed"],
        )  # fmt: skip
    return w["webhook"]


def _digest(w: dict[str, Any]) -> str:
    from tests.factories import current_digest

    return current_digest(w["release"])


def wh(w: dict[str, Any]) -> dict[str, Any]:
    return {**p(w), "pk": _webhook(w).pk}


MATRIX: dict[str, Row] = {
    # --- public ----------------------------------------------------------------------
    "healthz": Row("GET", none, everyone(OK)),
    "login": Row("GET", none, everyone(OK)),
    "password_reset": Row("GET", none, everyone(OK)),
    "password_reset_done": Row("GET", none, everyone(OK)),
    "password_reset_confirm": Row("GET", lambda w: {"uidb64": "MQ", "token": "x-y"}, everyone(OK)),
    "password_reset_complete": Row("GET", none, everyone(OK)),
    "api_docs": Row("GET", none, everyone(OK)),
    "api:openapi-json": Row("GET", none, everyone(OK)),
    # --- signed in, across projects ---------------------------------------------------
    "logout": Row("POST", none, everyone(LOGIN)),  # back to the login page
    "password_change": Row("GET", none, signed_in()),
    "password_change_done": Row("GET", none, signed_in()),
    "dashboard": Row("GET", none, signed_in()),
    "release_list": Row("GET", none, signed_in()),
    "release_new": Row("GET", none, signed_in(LEAD, RE)),
    "audit_log": Row("GET", none, signed_in()),
    "audit_verify": Row("POST", none, signed_in(LEAD, AUD)),
    "audit_export_csv": Row("GET", none, signed_in(LEAD, AUD)),
    "audit_export_jsonl": Row("GET", none, signed_in(LEAD, AUD)),
    "audit_verification": Row("GET", lambda w: {"pk": _chain_check(w).pk}, signed_in(LEAD, AUD)),
    "audit_checkpoint_latest": Row("GET", lambda w: _checkpoint(w), signed_in(LEAD, AUD)),
    # The public key is public: anyone checks exports with it, signed in or not.
    "audit_public_key": Row("GET", none, everyone(OK)),
    "audit_public_keys": Row("GET", none, everyone(OK)),
    "audit_offline_script": Row("GET", none, everyone(OK)),  # the checker is public too
    "runbook_list": Row("GET", none, signed_in()),
    # --- members and settings ----------------------------------------------------------
    "project_members": Row("GET", p, members(LEAD)),
    "membership_delete": Row(
        "POST", lambda w: {**p(w), "pk": w["sre_membership"].pk}, members(LEAD)
    ),
    "membership_role": Row(
        "POST",
        lambda w: {**p(w), "pk": w["sre_membership"].pk},
        members(LEAD),
        data=lambda w: {"role": "auditor"},
    ),
    "invitation_resend": Row(
        "POST", lambda w: {**p(w), "user_id": w["sre_membership"].user_id}, members(LEAD)
    ),
    "invitation_revoke": Row(
        "POST", lambda w: {**p(w), "user_id": w["sre_membership"].user_id}, members(LEAD)
    ),
    # Operators only: superusers (none of the personas is one).
    "operator_project_new": Row("GET", none, {**everyone(403), "anonymous": LOGIN}),
    "project_environments": Row("GET", p, members()),
    "project_settings": Row("GET", p, members(LEAD)),
    "target_new": Row("POST", p, members(LEAD)),
    "target_edit": Row("POST", lambda w: {**p(w), "pk": w["target"].pk}, members(LEAD)),
    "target_remove": Row("POST", lambda w: {**p(w), "pk": w["target"].pk}, members(LEAD)),
    "target_test": Row("POST", lambda w: {**p(w), "pk": w["target"].pk}, members(LEAD)),
    "project_tokens": Row("GET", p, members(LEAD)),
    "token_revoke": Row("POST", lambda w: {**p(w), "pk": w["token"].pk}, members(LEAD)),
    "freeze_windows": Row("GET", p, members(LEAD)),
    "freeze_window_delete": Row("POST", lambda w: {**p(w), "pk": w["freeze"].pk}, members(LEAD)),
    # --- runbooks ---------------------------------------------------------------------
    "runbook_upload": Row("GET", p, members(LEAD)),
    "runbook_detail": Row("GET", lambda w: {**p(w), "number": 1}, members()),
    "runbook_compare": Row("GET", lambda w: {**p(w), "number": 2}, members()),
    "runbook_publish": Row(
        "POST", lambda w: {**p(w), "number": 2}, members(LEAD), data=lambda w: {"notes": "ok"}
    ),
    "runbook_discard": Row("POST", lambda w: {**p(w), "number": 2}, members(LEAD)),
    "runbook_step_edit": Row(
        "POST", lambda w: {**p(w), "number": 2, "pk": w["draft_step"].pk}, members(LEAD)
    ),
    # --- releases ---------------------------------------------------------------------
    "release_detail": Row("GET", r, members()),
    # The page's revision poll and its "show all files" answer: read like the page.
    "release_revision": Row("GET", r, members()),
    "release_files": Row("GET", r, members()),
    "migration_file": Row("GET", lambda w: {**r(w), "file_pk": w["file"].pk}, members()),
    "release_migrations": Row("POST", r, members(LEAD, RE)),
    "release_cancel": Row("POST", r, members(LEAD, RE), data=lambda w: {"reason": "x"}),
    # A platform lead names another owner (the page; its POST is the same view).
    "release_owner": Row("GET", r, members(LEAD)),
    # The QA lead's item: its role and platform leads tick it.
    "item_tick": Row(
        "POST",
        lambda w: {**r(w), "item_pk": w["qa_item"].pk},
        members(LEAD, QA),
        data=lambda w: {"revision": 0},
    ),
    "item_untick": Row(
        "POST",
        lambda w: {**r(w), "item_pk": w["qa_item"].pk},
        members(LEAD, QA),
        data=lambda w: {"revision": 0, "reason": "x"},
    ),
    "item_not_applicable": Row(
        "POST",
        lambda w: {**r(w), "item_pk": w["qa_item"].pk},
        members(LEAD, QA),
        data=lambda w: {"revision": 0, "reason": "x"},
    ),
    # The release owner (the platform lead here) signs.
    "release_signoff": Row(
        "POST",
        r,
        members(LEAD),
        data=lambda w: {"kind": "release_owner", "password": "x", "seen_digest": _digest(w)},
    ),
    "release_report": Row("GET", r, members()),
    # What changed in the files: read like the release page.
    "release_changes": Row("GET", r, members()),
    "release_bundle_file": Row(
        "GET",
        lambda w: {**r(w), "digest": w["release"].uploads.get().bundle.digest},
        members(),
        query="?path=supabase/migrations/20250101000000_create_app.sql",
    ),
    # Platform leads, auditors and the release's owner (the lead here).
    "release_evidence_pack": Row("GET", r, members(LEAD, AUD)),
    "release_gate": Row("GET", r, members()),
    "break_glass": Row("POST", r, members(LEAD)),
    # A second platform lead confirms a break-glass (here one broken by "lead-two").
    "gate_override_confirm": Row(
        "POST",
        lambda w: {**r(w), "override_pk": w["unconfirmed_override"].pk},
        members(LEAD),
        data=lambda w: {"seen_digest": _digest(w)},
    ),
    # Waivers: who may tick the item asks (the QA lead's item: QA and platform leads); a
    # platform lead other than the asker approves; the asker or a platform lead withdraws.
    "waiver_ask": Row(
        "POST",
        lambda w: {**r(w), "item_pk": w["qa_gating_item"].pk},
        members(LEAD, QA),
        data=lambda w: {"reason": "The RLS suite is covered by CI", "seen_digest": _digest(w)},
    ),
    "waiver_approve": Row(
        "POST",
        lambda w: {**r(w), "waiver_pk": w["waiver_by_qa"].pk},
        members(LEAD),
        data=lambda w: {"seen_digest": _digest(w)},
    ),
    "waiver_revoke": Row(
        "POST",
        lambda w: {**r(w), "waiver_pk": w["waiver_by_re"].pk},
        members(LEAD, RE),
        data=lambda w: {"reason": "not needed after all"},
    ),
    "gate_override_resolve": Row(
        "POST",
        lambda w: {**r(w), "override_pk": w["override"].pk},
        members(LEAD),
        data=lambda w: {"note": "done"},
    ),
    # --- jobs ---------------------------------------------------------------------------
    "release_jobs": Row("GET", r, members()),
    "release_analysis": Row("GET", r, members()),
    "release_job_start": Row("POST", r, members(LEAD, RE, QA), data=lambda w: {"kind": "order"}),
    "release_preflight": Row("POST", r, members(LEAD, RE, QA)),
    "job_detail": Row("GET", lambda w: {"pk": w["job"].pk}, members()),
    "job_result_json": Row("GET", lambda w: {"pk": w["job"].pk}, members()),
    "job_log": Row("GET", lambda w: {"pk": w["job"].pk}, members()),
    "job_cancel": Row("POST", lambda w: {"pk": w["job"].pk}, members(LEAD, RE, QA)),
    "job_retry": Row("POST", lambda w: {"pk": w["finished_job"].pk}, members(LEAD, RE, QA)),
    # --- deploying, post-deploy monitoring and webhooks --------------------------------
    "release_apply": Row("POST", r, members(LEAD, RE, SRE)),
    "release_monitoring": Row("GET", r, members()),
    "monitoring_close": Row(
        "POST",
        lambda w: {"pk": _monitoring_window(w).pk},
        members(LEAD, SRE),
        data=lambda w: {"reason": "dashboards green"},
    ),
    "health_queries": Row("GET", p, members(LEAD)),
    "health_query_edit": Row("POST", lambda w: {**p(w), "pk": _health_query(w).pk}, members(LEAD)),
    "monitoring_settings": Row("POST", p, members(LEAD)),
    "webhooks": Row("GET", p, members(LEAD)),
    "webhook_edit": Row("GET", wh, members(LEAD)),
    "webhook_rotate": Row("POST", wh, members(LEAD)),
    "webhook_ping": Row("POST", wh, members(LEAD)),
    "webhook_delete": Row("POST", wh, members(LEAD)),
    # --- backups, rollbacks, incidents (SREs and platform leads act; everyone reads) -----
    "backup_list": Row("GET", none, signed_in()),
    "backup_detail": Row("GET", lambda w: {"pk": w["backup"].pk}, members()),
    "backup_download": Row("GET", lambda w: {"pk": w["backup"].pk}, members(LEAD, SRE)),
    "backup_verify": Row("POST", lambda w: {"pk": w["backup"].pk}, members(LEAD, SRE)),
    "backup_delete": Row("POST", lambda w: {"pk": w["backup"].pk}, members(LEAD, SRE)),
    "backup_snapshot": Row(
        "POST",
        lambda w: {"pk": w["backup"].pk},
        members(LEAD, SRE),
        data=lambda w: {"snapshot_ref": "manual-backup-1"},
    ),
    "backup_changelog": Row("GET", p, members()),
    "backup_capture": Row("POST", r, members(LEAD, SRE)),
    "backups_panel": Row("GET", r, members()),
    "rollback_list": Row("GET", none, signed_in()),
    "rollback_detail": Row("GET", lambda w: {"pk": w["plan"].pk}, members()),
    "rollback_rehearse": Row("POST", lambda w: {"pk": w["plan"].pk}, members(LEAD, SRE)),
    "rollback_plan_new": Row("POST", r, members(LEAD, SRE)),
    "incident_list": Row("GET", none, signed_in()),
    "incident_new": Row("POST", r, members(LEAD, SRE), data=lambda w: {"title": "Down"}),
    "incident_detail": Row("GET", lambda w: {"pk": w["incident"].pk}, members()),
    "incident_action": Row(
        "POST",
        lambda w: {"pk": w["incident"].pk, "action": "note"},
        members(LEAD, SRE),
        data=lambda w: {"text": "looking"},
    ),
    # --- the API: bearer tokens only, so a browser session gets 401 everywhere ----------
    "api:create_release": Row("POST", p, everyone(401)),
    "api:list_releases": Row("GET", p, everyone(401)),
    "api:read_release": Row("GET", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:upload_migrations": Row("POST", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:report_evidence": Row("POST", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:report_pull_request": Row(
        "POST", lambda w: {"release_id": w["release"].pk}, everyone(401)
    ),
    "api:release_gate": Row("GET", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:read_analysis": Row("GET", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:release_waivers": Row("GET", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:start_deployment": Row("POST", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:finish_deployment": Row(
        "PATCH", lambda w: {"release_id": w["release"].pk, "deployment_id": 1}, everyone(401)
    ),
    "api:finish_deployment_post": Row(
        "POST", lambda w: {"release_id": w["release"].pk, "deployment_id": 1}, everyone(401)
    ),
    "api:start_job": Row("POST", lambda w: {"release_id": w["release"].pk}, everyone(401)),
    "api:read_job": Row("GET", lambda w: {"job_id": w["job"].pk}, everyone(401)),
    "api:api-root": Row("GET", none, everyone(404)),
}


def url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # Django's admin: staff only, guarded by Django itself
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


def test_every_url_is_in_the_matrix():
    missing = sorted(url_names() - set(MATRIX))
    assert missing == [], f"add these URLs to the permission matrix: {missing}"
    stale = sorted(set(MATRIX) - url_names())
    assert stale == [], f"these rows name URLs that no longer exist: {stale}"


@pytest.fixture
def world(project, other_project, personas, django_capture_on_commit_callbacks):
    from django.db import transaction
    from django.utils import timezone

    from checklists.deployments.services import freeze_window_create
    from checklists.models import ChecklistItem, GateOverride
    from checklists.runbooks.default import default_runbook_source
    from checklists.runbooks.services import runbook_import
    from checklists.services.migrations import release_upload_archive
    from checklists.services.releases import release_create
    from migrations_ops.models import BackupManifest, Incident, Job, RollbackPlan, Target
    from release_portal.accounts.models import Membership
    from release_portal.api.tokens import token_create
    from tests.factories import DEMO_MIGRATIONS, published_runbook, supabase_archive

    lead = personas["platform_lead"]
    published_runbook(project)
    draft = runbook_import(project=project, source_bytes=default_runbook_source(), user=lead)
    release = release_create(
        project=project, title="Matrix", owner=lead, commit_sha="a" * 40, created_by=lead
    )
    release_upload_archive(
        release=release, data=supabase_archive(DEMO_MIGRATIONS), filename="s.zip", actor=lead
    )
    target = Target.objects.create(
        project=project, name="staging", kind="staging", url_env_var="MATRIX_STAGING_URL"
    )
    job = Job.objects.create(project=project, release=release, kind="order", target=target)
    finished = Job.objects.create(
        project=project, release=release, kind="pending", target=target, state="failed"
    )
    with transaction.atomic():
        freeze = freeze_window_create(
            project=project,
            starts_at=timezone.now() + timezone.timedelta(days=30),
            ends_at=timezone.now() + timezone.timedelta(days=31),
            reason="holidays",
            user=lead,
        )
    override = GateOverride.objects.create(
        release=release,
        digest=release.digest,
        reason="matrix break-glass",
        created_by=lead,
        expires_at=timezone.now() + timezone.timedelta(hours=1),
    )
    when = timezone.now()
    backup = BackupManifest.objects.create(
        project=project,
        release=release,
        target=target,
        schemas=["app", "public"],
        location="/nonexistent",
        file_name="x.sql",
        file_key="x.sql",
        manifest_key="x.sql.manifest.json",
        sha256="a" * 64,
        size=8,
        started_at=when,
        finished_at=when,
        verify_state="passed",
        verified_at=when,
    )
    plan = RollbackPlan.objects.create(
        project=project,
        release=release,
        target=target,
        backup=backup,
        steps=[],
        last_good_version="20250101000000",
        verified_target_version="20250102000000",
    )
    incident = Incident.objects.create(
        project=project,
        release=release,
        target=target,
        title="Checkout down",
        trigger="monitoring_alert",
        opened_by_name="sre",
    )
    return {
        "backup": backup,
        "plan": plan,
        "incident": incident,
        "project": project,
        "release": release,
        "target": target,
        "job": job,
        "finished_job": finished,
        "file": release.migration_files.first(),
        "qa_item": ChecklistItem.objects.get(
            release=release, step__key="application-smoke-tests-security-checks"
        ),
        "draft_step": draft.steps.first(),
        "sre_membership": Membership.objects.get(user=personas["sre"], role=Role.SRE),
        "token": token_create(project=project, name="matrix", scopes=["read"], user=lead).token,
        "freeze": freeze,
        "override": override,
        **_waivers_and_confirmation(project, release, personas),
    }


def _waivers_and_confirmation(project: Any, release: Any, personas: dict[str, Any]) -> dict:
    """A pending waiver asked by the QA lead, one asked by the release engineer, and a
    break-glass by a second platform lead waiting for confirmation."""
    from datetime import timedelta

    from django.utils import timezone

    from checklists.models import ChecklistItem, GateOverride
    from checklists.services.waivers import waiver_ask
    from tests.factories import current_digest, second_lead

    qa_gating = ChecklistItem.objects.get(release=release, step__key="rls-docker-test-suite-passed")
    by_qa = waiver_ask(
        item=ChecklistItem.objects.get(
            release=release, step__key="ensure-rls-fixtures-supabase-tests"
        ),
        user=personas["qa_lead"], reason="Fixtures are checked in CI",
        seen_digest=current_digest(release),
    )  # fmt: skip
    by_re = waiver_ask(
        item=ChecklistItem.objects.get(
            release=release, step__key="review-supabase-dashboard-pending-failed"
        ),
        user=personas["release_engineer"], reason="Dashboard has a known stuck row",
        seen_digest=current_digest(release),
    )  # fmt: skip
    other = second_lead(project)
    release.refresh_from_db()
    unconfirmed = GateOverride.objects.create(
        release=release, digest=release.digest, reason="matrix break-glass by a second lead",
        created_by=other, needs_confirmation=True,
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    return {
        "qa_gating_item": qa_gating,
        "waiver_by_qa": by_qa,
        "waiver_by_re": by_re,
        "unconfirmed_override": unconfirmed,
    }


def classify(response: Any) -> Any:
    status = response.status_code
    if status in (301, 302) and "/accounts/login/" in response.get("Location", ""):
        return LOGIN
    if status in (401, 403, 404):
        return status
    return OK


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_persona_gets_the_expected_answer(client, personas, world, name):
    row = MATRIX[name]
    url = reverse(name, kwargs=row.kwargs(world)) + row.query
    # Refusals first: a persona that is let through may change what the next one sees.
    order = sorted(PERSONAS, key=lambda persona: row.expect[persona] == OK)
    got = {}
    for persona in order:
        client.logout()
        if persona != "anonymous":
            client.force_login(personas[persona])
        response = getattr(client, row.method.lower())(
            url,
            data=row.data(world),
            **({"content_type": "application/json"} if row.method == "PATCH" else {}),
        )
        got[persona] = classify(response)
    assert got == row.expect
