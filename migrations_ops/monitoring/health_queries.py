"""A project's health queries and window length: platform leads change them, audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from migrations_ops.models import Project
from migrations_ops.monitoring.models import HealthQuery, ProjectMonitoring
from migrations_ops.monitoring.sampling import HealthSqlError, check_health_sql
from migrations_ops.monitoring.services import project_monitoring
from release_portal.accounts.roles import Action, can
from release_portal.audit.services import audit_record

FIELDS = ("name", "sql", "threshold", "comparison", "delta", "enabled")


def _require(user: Any, project_id: int) -> None:
    if not can(user, Action.MANAGE_PROJECT, project_id):
        raise PermissionDenied("Only platform leads change the health queries.")


def _checked_sql(text: str) -> str:
    try:
        return check_health_sql(text)
    except HealthSqlError as e:
        raise ValidationError(f"The SQL cannot be used: {e}.") from None


@transaction.atomic
def health_query_create(*, project: Project, user: Any, **values: Any) -> HealthQuery:
    """A new health query (``name``, ``sql``, ``threshold``, ``comparison``, ``delta``,
    ``enabled``); it is sampled from the next minute in every running window."""
    _require(user, project.pk)
    project_monitoring(project)
    values["sql"] = _checked_sql(values["sql"])
    try:
        with transaction.atomic():
            query = HealthQuery.objects.create(
                project=project, **{k: values[k] for k in FIELDS if k in values}
            )
    except IntegrityError:
        raise ValidationError(f"A health query is already named {values['name']!r}.") from None
    audit_record(
        actor=user, action="health_query.create", obj=query, project=project,
        data={k: getattr(query, k) for k in FIELDS},
    )  # fmt: skip
    return query


@transaction.atomic
def health_query_update(*, query: HealthQuery, user: Any, **values: Any) -> HealthQuery:
    _require(user, query.project_id)
    query = HealthQuery.objects.select_for_update().get(pk=query.pk)
    if "sql" in values:
        values["sql"] = _checked_sql(values["sql"])
    changed = {}
    for key in FIELDS:
        if key in values and getattr(query, key) != values[key]:
            changed[key] = {"from": getattr(query, key), "to": values[key]}
            setattr(query, key, values[key])
    if not changed:
        return query
    try:
        with transaction.atomic():
            query.save()
    except IntegrityError:
        raise ValidationError(f"A health query is already named {values['name']!r}.") from None
    audit_record(
        actor=user, action="health_query.update", obj=query, project=query.project_id,
        data=changed,
    )  # fmt: skip
    return query


@transaction.atomic
def monitoring_settings_update(
    *, project: Project, user: Any, window_minutes: int
) -> ProjectMonitoring:
    """The length of the project's next windows (running ones keep theirs)."""
    _require(user, project.pk)
    if not 1 <= window_minutes <= 24 * 60:
        raise ValidationError("A monitoring window lasts between 1 minute and 24 hours.")
    row = project_monitoring(project)
    row = ProjectMonitoring.objects.select_for_update().get(pk=row.pk)
    if row.window_minutes != window_minutes:
        audit_record(
            actor=user, action="monitoring.settings", obj=project,
            data={"window_minutes": {"from": row.window_minutes, "to": window_minutes}},
        )  # fmt: skip
        row.window_minutes = window_minutes
        row.save(update_fields=["window_minutes"])
    return row
