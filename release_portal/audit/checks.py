"""`manage.py check --deploy`: production needs the key that signs the change log."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from release_portal.audit.signing import SigningKeyError, load_private_key

HINT = (
    "Generate one with `openssl genpkey -algorithm ed25519` and put the PEM in "
    "AUDIT_SIGNING_KEY (outside the database, like AUDIT_HMAC_KEY); `\\n` may stand for the "
    "line breaks. Its public half is served at /audit/public-key.pem."
)


@register(Tags.security, deploy=True)
def audit_signing_key_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    try:
        load_private_key(settings.AUDIT_SIGNING_KEY, "AUDIT_SIGNING_KEY")
    except SigningKeyError as e:
        errors.append(Error(str(e), hint=HINT, id="audit.E001"))
    previous = getattr(settings, "AUDIT_SIGNING_KEY_PREVIOUS", "")
    if previous.strip():
        try:
            load_private_key(previous, "AUDIT_SIGNING_KEY_PREVIOUS")
        except SigningKeyError as e:
            errors.append(Error(str(e), hint="It must be the key being retired.", id="audit.E002"))
    return errors
