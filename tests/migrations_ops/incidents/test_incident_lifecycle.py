"""An incident end to end: open → maintenance on → assess → plan → rollback job →
validation → maintenance off → close (needs the postmortem), all on the timeline."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ValidationError

from checklists.models import Deployment, Release
from migrations_ops.incidents import services as incidents
from migrations_ops.models import Incident, IncidentEntry, Job
from release_portal.audit.models import AuditEvent
from tests.sre_fixtures import columns, deploy, history, run_job, verified_backup

pytestmark = pytest.mark.usefixtures("transactional_db", "sent")
SAMPLE = "tests.migrations_ops.jobs.sample_runner"


@pytest.fixture
def webhook(settings):
    """A local app that records the maintenance_mode bodies it is sent (loopback allowed)."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/maintenance", received
    server.shutdown()
    server.server_close()


def test_it_walks_an_incident_from_open_to_closed(
    production, release, target, sre, settings, webhook
):
    url, received = webhook
    release.project.maintenance_webhook_url = url
    release.project.save()
    verified_backup(release, target, sre)
    deploy(production.url)
    Release.objects.filter(pk=release.pk).update(state=Release.State.FAILED)  # deploy failed
    release.refresh_from_db()

    incident = incidents.incident_open(
        release=release, target=target, user=sre, title="Invoices broke checkout",
        trigger="failed_deployment", error_text="ERROR: relation app.invoice does not exist",
    )  # fmt: skip
    incident = incidents.incident_plan(incident=incident, user=sre)
    assert incident.plan.last_good_version == "20250102000000"
    with pytest.raises(ValidationError, match="maintenance mode on first"):
        incidents.incident_rollback_start(incident=incident, user=sre)

    incident = incidents.incident_maintenance(incident=incident, user=sre, on=True)
    assert received == [{"maintenance_mode": True}]
    incident = incidents.incident_assess(incident=incident, user=sre)
    assert incident.assessment["last_good"] == "20250102000000"
    assert incident.assessment["release_applied"] == ["20250103000000", "20250104000000"]

    job = run_job(incidents.incident_rollback_start(incident=incident, user=sre))
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert history(production.url) == ["20250101000000", "20250102000000"]
    assert columns(production.url, "app.invoices") == []
    release.refresh_from_db()
    assert release.state == Release.State.ROLLED_BACK
    deployment = Deployment.objects.get(kind="rollback")  # the target's deploy lock, freed
    assert deployment.status == "succeeded" and deployment.target == target

    settings.JOB_RUNNER_MODULES = {"commands": SAMPLE, "rls": SAMPLE}
    checks = incidents.incident_validate(incident=incident, user=sre)
    assert {j.kind for j in checks} == {"commands", "rls"}
    for check in checks:
        assert run_job(check).state == Job.State.SUCCEEDED
    incidents.incident_note(incident=incident, user=sre, text="Checkout works again.")

    with pytest.raises(ValidationError, match="maintenance mode off first"):
        incidents.incident_close(incident=incident, user=sre, postmortem_url="https://x.test/pm")
    incident = incidents.incident_maintenance(incident=incident, user=sre, on=False)
    assert received[-1] == {"maintenance_mode": False}
    with pytest.raises(ValidationError, match="Link the postmortem"):
        incidents.incident_close(incident=incident, user=sre, postmortem_url="")
    incident = incidents.incident_close(
        incident=incident, user=sre, postmortem_url="https://wiki.example.com/pm/42"
    )
    assert incident.state == Incident.State.CLOSED

    kinds = list(incident.entries.order_by("at", "pk").values_list("kind", flat=True))
    assert kinds == [
        "opened", "plan", "maintenance", "assessment", "job", "job_end", "job", "job",
        "job_end", "job_end", "status", "maintenance", "closed",
    ]  # fmt: skip
    rollback_end = incident.entries.get(kind="job_end", job=job)
    assert "succeeded" in rollback_end.text
    audited = AuditEvent.objects.filter(object_type__icontains="incident").values_list(
        "action", flat=True
    )
    assert {"incident.opened", "incident.maintenance", "incident.closed"} <= set(audited)
    with pytest.raises(ValidationError, match="closed"):
        incidents.incident_note(incident=incident, user=sre, text="late")


def test_it_records_maintenance_mode_when_the_webhook_fails(release, target, sre, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    release.project.maintenance_webhook_url = "http://127.0.0.1:9/nothing-listens"
    release.project.save()
    incident = incidents.incident_open(
        release=release, target=target, user=sre, title="Alert", trigger="monitoring_alert"
    )
    incident = incidents.incident_maintenance(incident=incident, user=sre, on=True)
    assert incident.maintenance_mode is True
    entry = IncidentEntry.objects.filter(kind="maintenance").get()
    assert "could not be reached" in entry.text and "flip it by hand" in entry.text
    assert entry.data["webhook_ok"] is False


def test_it_refuses_a_second_open_incident_for_the_release(release, target, sre):
    incidents.incident_open(release=release, target=target, user=sre, title="A",
                            trigger="other")  # fmt: skip
    with pytest.raises(ValidationError, match="already open"):
        incidents.incident_open(release=release, target=target, user=sre, title="B",
                                trigger="other")  # fmt: skip


def test_it_refuses_a_rollback_while_a_deployment_holds_the_target(
    production, release, target, sre, platform_lead
):
    Release.objects.filter(pk=release.pk).update(state=Release.State.FAILED)
    release.refresh_from_db()
    incident = incidents.incident_open(
        release=release, target=target, user=sre, title="Half applied", trigger="other"
    )
    incidents.incident_maintenance(incident=incident, user=sre, on=True)
    verified_backup(release, target, sre)
    deploy(production.url)
    incident = incidents.incident_plan(incident=Incident.objects.get(), user=sre)
    # CI reported a deployment of the target as started (and never finished).
    Deployment.objects.create(release=release, target=target, digest="d" * 64,
                              started_by_name="ci")  # fmt: skip

    with pytest.raises(ValidationError, match="production is locked by deployment"):
        incidents.incident_rollback_start(incident=incident, user=sre)
    assert not Job.objects.filter(kind="rollback").exists()
