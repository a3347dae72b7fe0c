"""The sandbox's template clusters: one data folder per PostgreSQL installation, made
once by initdb inside a sandbox (``ensure_template``; workers wait on a file lock while
another makes it), which each job's cluster copies; and, for an installation without
pgTAP (the wheel's, PostgreSQL 18+), a folder of Debian's pgTAP files for
``extension_control_path`` (``pgtap_folder``)."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from migrations_ops.pg import installations
from migrations_ops.pg.installations import Installation
from migrations_ops.pg.sandbox import HOST_CWD, Sandbox, SandboxConfig, SandboxError
from migrations_ops.pg.sandbox_host import running_as_root, shared_folder

_TEMPLATE_LOCK_WAIT_S = 120


def ensure_template(config: SandboxConfig, inst: Installation) -> Path:
    """The template cluster's data folder for ``inst``, made once (initdb in the sandbox)."""
    templates = shared_folder(config, "templates")
    final = templates / inst.key
    if (final / "PG_VERSION").is_file():
        return final
    lock_path = templates / f"{inst.key}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + _TEMPLATE_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"waited {_TEMPLATE_LOCK_WAIT_S} s for another worker to make the "
                        f"{inst.describe()} template cluster"
                    ) from None
                time.sleep(0.1)
        if (final / "PG_VERSION").is_file():
            return final
        _initdb(config, inst, templates, final)
        return final
    finally:
        os.close(fd)


def _initdb(config: SandboxConfig, inst: Installation, templates: Path, final: Path) -> None:
    work = templates / f"{inst.key}.tmp-{secrets.token_hex(4)}"
    work.mkdir(mode=0o700)
    uid = config.uid if running_as_root() else os.geteuid()
    if running_as_root():
        os.chown(work, uid, uid)
    try:
        with Sandbox(config, purpose="initdb") as box:
            argv = [
                *box._sealed([
                    *box._base_argv(),
                    "--bind", str(work), "/pg/template",
                    "--chdir", "/pg/template",
                ]),
                "--", box.inner_tool(inst.tool("initdb")), "-D", "/pg/template/data",
                "-U", "postgres",
                "--auth=trust", "--no-sync", "--no-instructions", "-E", "UTF8",
                "--locale=C.UTF-8", "--wal-segsize=1",
            ]  # fmt: skip
            done = subprocess.run(
                box._enter_cgroup(argv),
                env=box.environment({}),
                cwd=HOST_CWD,
                capture_output=True,
                timeout=300,
                check=False,
            )
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise SandboxError(
                f"initdb of {inst.describe()} failed in the sandbox: {' | '.join(said)}"
            )
        os.rename(work / "data", final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pgtap_folder(config: SandboxConfig, inst: Installation) -> Path | None:
    """For an installation without pgTAP (the wheel): a folder holding Debian's pgTAP files,
    for ``extension_control_path`` (PostgreSQL 18+). None when not needed or not possible.
    """
    if installations.has_extension(inst, "pgtap") or inst.major < 18:
        return None
    sources = installations.pgtap_sources()
    if not sources:
        return None
    ext = shared_folder(config, "ext")
    folder = ext / "extension"
    if not (folder / "pgtap.control").is_file():
        tmp = ext / f"extension.tmp-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o755)
        for src in sources:
            shutil.copyfile(src, tmp / src.name)
            (tmp / src.name).chmod(0o644)
        try:
            os.rename(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return ext
