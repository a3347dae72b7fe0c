"""The incident page as people read it: its timeline's times say the day and the zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from migrations_ops.models import Incident, IncidentEntry, RollbackPlan

pytestmark = pytest.mark.django_db


def test_the_timeline_says_the_day_and_utc(client, release, target, sre):
    """What the SRE read on an incident that ran past midnight: "23:58:10 Opened" then
    "00:04:31 Status update", no day and no zone, so the order looked reversed."""
    incident = Incident.objects.create(
        project=release.project, release=release, target=target, title="Checkout down",
        trigger="monitoring_alert", opened_by_name="sre",
    )  # fmt: skip
    times = [
        datetime(2026, 12, 5, 23, 58, 10, tzinfo=UTC),
        datetime(2026, 12, 6, 0, 4, 31, tzinfo=UTC),
    ]
    for at, kind in zip(times, ["opened", "status"], strict=True):
        entry = IncidentEntry.objects.create(
            incident=incident, kind=kind, text="x", actor_name="sre"
        )
        IncidentEntry.objects.filter(pk=entry.pk).update(at=at)
    client.force_login(sre)
    html = client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert ">2026-12-05 23:58:10 UTC</time>" in html
    assert ">2026-12-06 00:04:31 UTC</time>" in html


def test_run_rollback_is_offered_only_once_it_can_start_and_says_what_is_missing(
    client, release, target, sre
):
    """The red "Run rollback" was live before any plan was attached or writes were
    frozen; clicking it (and confirming) only then said "Attach a rollback plan first"."""
    incident = Incident.objects.create(
        project=release.project, release=release, target=target, title="Checkout down",
        trigger="monitoring_alert", opened_by_name="sre",
    )  # fmt: skip
    client.force_login(sre)

    def rollback_step() -> str:
        html = client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
        return html.split("<strong>Roll back.</strong>", 1)[1].split("</li>", 1)[0]

    step = rollback_step()
    assert 'disabled aria-describedby="rollback-why">Run rollback' in step
    assert "Attach a rollback plan first (step 3)." in step
    plan = RollbackPlan.objects.create(project=release.project, release=release, target=target,
                                       steps=[])  # fmt: skip
    Incident.objects.filter(pk=incident.pk).update(plan=plan)
    step = rollback_step()
    assert "disabled" in step and "Turn maintenance mode on first (step 1)" in step
    Incident.objects.filter(pk=incident.pk).update(maintenance_mode=True)
    step = rollback_step()
    assert "disabled" not in step and "rollback-why" not in step
