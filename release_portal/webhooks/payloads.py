"""The bodies a webhook receives: the portal's JSON, or a Slack-compatible message."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings

from release_portal.webhooks.events import event_label


def _link(path: str | None) -> str | None:
    if not path:
        return None
    base = settings.PORTAL_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else path


def json_body(
    *,
    uid: uuid.UUID,
    event: str,
    at: datetime,
    project_id: int | None,
    project: str,
    release_id: int | None,
    release: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": str(uid),
        "event": event,
        "occurred_at": at.isoformat(),
        "project": {"id": project_id, "name": project},
        "release": (
            {"id": release_id, "title": release, "url": _link(f"/releases/{release_id}/")}
            if release_id
            else None
        ),
        "summary": str(data.get("summary") or event_label(event)),
        "data": data,
    }


def slack_body(message: dict[str, Any]) -> dict[str, Any]:
    """``{"text": ..., "blocks": [...]}``: Slack shows blocks and falls back to text."""
    label = event_label(message["event"])
    release = message["release"]
    headline = f"*{label}*: {message['summary']}"
    where = message["project"]["name"]
    if release:
        url = release["url"]
        title = (
            f"<{url}|{release['title']}>" if url and url.startswith("http") else release["title"]
        )
        where = f"{where} · release {title}"
    return {
        "text": f"{label}: {message['summary']} ({message['project']['name']})",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": where}]},
        ],
    }


def render(fmt: str, message: dict[str, Any]) -> str:
    body = slack_body(message) if fmt == "slack" else message
    return json.dumps(body, default=str, separators=(",", ":"), ensure_ascii=False)
