"""Reading the settings from the environment: each helper says what a variable may hold
and refuses anything else with ImproperlyConfigured, naming the variable."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if not raw:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


_TARGET_VARS_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_TARGET_VARS_PATTERN = re.compile(r"^[A-Z_*][A-Z0-9_*]*$")


def env_target_vars(name: str) -> dict[str, list[str]] | None:
    """``slug:NAME,PATTERN_*;slug2:...`` as {slug: [names and patterns]}; None when unset."""
    raw = env_str(name)
    if not raw:
        return None
    example = "demo:DEMO_STAGING_DATABASE_URL,DEMO_PRODUCTION_DATABASE_URL;shop:SHOP_*"
    allowed: dict[str, list[str]] = {}
    # Errors never quote the value: a URL pasted by mistake would carry its password.
    for number, entry in enumerate(filter(None, (p.strip() for p in raw.split(";"))), 1):
        slug, colon, names = (part.strip() for part in entry.partition(":"))
        if not colon or not _TARGET_VARS_SLUG.match(slug):
            raise ImproperlyConfigured(
                f"{name}: entry {number} is not <project slug>:<VARIABLE>,<VARIABLE>... "
                f"(e.g. {example})"
            )
        patterns = [p.strip() for p in names.split(",") if p.strip()]
        for position, pattern in enumerate(patterns, 1):
            if not _TARGET_VARS_PATTERN.match(pattern):
                raise ImproperlyConfigured(
                    f"{name}: name {position} of project {slug} is not a variable name: use "
                    f"capitals, digits, _ and * as a wildcard (e.g. {example})"
                )
        allowed.setdefault(slug, []).extend(patterns)
    return allowed


def local_secret(data_dir: Path, name: str) -> str:
    """A random secret generated once and kept in ``data_dir`` (PORTAL_DATA_DIR; embedded
    mode only)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def local_signing_key(data_dir: Path, name: str) -> str:
    """An Ed25519 private key (PEM, PKCS#8) generated once into ``data_dir``
    (PORTAL_DATA_DIR; debug only)."""
    path = data_dir / name
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return path.read_text().strip()


def env_pem(name: str) -> str:
    """A PEM block from the environment; ``\\n`` stands for a newline (one-line .env files)."""
    return env_str(name).replace("\\n", "\n")
