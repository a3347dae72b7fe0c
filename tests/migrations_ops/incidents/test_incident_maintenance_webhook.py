"""The incidents' maintenance webhook goes through the same guard as every webhook: the
address checked, loopback only when allowed, and redirects never followed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migrations_ops.incidents import services as incidents
from migrations_ops.models import IncidentEntry
from release_portal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    """An app on 127.0.0.1 that records every request; ``answer`` scripts its reply."""
    state = {"requests": [], "answer": (204, "")}

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state["requests"].append((self.command, self.path, body))
            status, location = state["answer"]
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def switch_on(release, target, sre, url):
    release.project.maintenance_webhook_url = url
    release.project.save()
    incident = incidents.incident_open(
        release=release, target=target, user=sre, title="Alert", trigger="monitoring_alert"
    )
    incidents.incident_maintenance(incident=incident, user=sre, on=True)
    return IncidentEntry.objects.get(incident=incident, kind="maintenance")


def test_it_posts_to_an_allowed_address(release, target, sre, app, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    entry = switch_on(release, target, sre, app["url"] + "/maintenance?token=s3cret")
    assert app["requests"] == [("POST", "/maintenance?token=s3cret",
                                json.dumps({"maintenance_mode": True}).encode())]  # fmt: skip
    assert entry.data["webhook_ok"] is True
    assert "answered 204" in entry.text


def test_it_refuses_loopback_unless_allowed(release, target, sre, app, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    entry = switch_on(release, target, sre, app["url"] + "/maintenance")
    assert app["requests"] == []
    assert entry.data["webhook_ok"] is False
    assert "refused" in entry.text and "loopback" in entry.text
    assert "flip it by hand" in entry.text


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://168.63.129.16/machine",
     "http://[2002:a00:1::]/x", "http://10.0.0.5:8080/x"],
)  # fmt: skip
def test_it_never_calls_metadata_or_private_addresses(release, target, sre, url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    entry = switch_on(release, target, sre, url)
    assert entry.data["webhook_ok"] is False
    assert "refused" in entry.text


def test_it_does_not_follow_redirects(release, target, sre, app, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    app["answer"] = (302, app["url"] + "/elsewhere")
    entry = switch_on(release, target, sre, app["url"] + "/maintenance")
    assert [(method, path) for method, path, _ in app["requests"]] == [("POST", "/maintenance")]
    assert entry.data["webhook_ok"] is False
    assert "302" in entry.text and "redirects are not followed" in entry.text


def test_the_timeline_and_the_change_log_name_the_host_only(release, target, sre, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    switch_on(release, target, sre, "https://10.9.8.7/hooks/T0KEN-in-the-path?sig=s3cret")
    texts = list(IncidentEntry.objects.values_list("text", flat=True))
    logged = json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))
    for secret in ("T0KEN-in-the-path", "s3cret"):
        assert all(secret not in text for text in texts)
        assert secret not in logged
