"""The sandbox as a root worker and as a non-root worker.

Started by root, ``bwrap --unshare-user --uid N`` would still map to host root; a root
worker therefore drops to PORTAL_SANDBOX_UID first. A non-root worker relies on the user
namespace alone. Both are shown here: a root-only file stays out of reach, the cluster
starts, and processes inside are not root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from migrations_ops.pg.sandbox import Sandbox, SandboxConfig, SandboxError

BASE_DIR = Path(settings.BASE_DIR)
NON_ROOT_UID = 61001

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs a root worker to drop from")


@root_only
def test_a_root_worker_runs_the_sandbox_as_the_dedicated_uid(sandbox, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root-only-c0ffee")
    secret.chmod(0o600)
    sandbox.add_file("probe.txt", b"x")

    done = sandbox.run(
        ["/bin/sh", "-c", f"id -u; cat {secret}; ls /root /work 2>&1; cat /proc/1/status"]
    )

    out = done.stdout.decode()
    assert out.splitlines()[0] == str(settings.PORTAL_SANDBOX_UID)
    assert "root-only-c0ffee" not in out
    with psycopg.connect(sandbox.server_url()) as conn:
        row = conn.execute("SELECT pg_read_file('/etc/passwd')").fetchone()
    assert row is not None and f"sandbox:x:{settings.PORTAL_SANDBOX_UID}" in row[0]


def test_a_sandbox_refuses_a_uid_of_zero_for_a_root_worker(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the uid setting only matters to a root worker")
    config = SandboxConfig(root=tmp_path / "sb", uid=0)
    with pytest.raises(SandboxError, match="PORTAL_SANDBOX_UID must not be 0"):
        Sandbox(config).open()


NON_ROOT_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, {base!r})
import psycopg
from migrations_ops.pg.sandbox import Sandbox, SandboxConfig

config = SandboxConfig(root=Path({root!r}))
report = {{}}
with Sandbox(config) as box:
    done = box.run(["/bin/sh", "-c", "id -u; cat {secret} 2>&1; echo end"])
    report["inside"] = done.stdout.decode()
    with psycopg.connect(box.server_url(), autocommit=True) as conn:
        report["server"] = conn.execute("SELECT current_user").fetchone()[0]
        try:
            conn.execute("SELECT pg_read_file('{secret}')")
            report["pg_read_file"] = "read"
        except psycopg.Error as e:
            report["pg_read_file"] = type(e).__name__
report["worker_uid"] = __import__("os").geteuid()
print(json.dumps(report))
"""


@root_only
def test_a_non_root_worker_keeps_a_root_only_file_out_of_reach(tmp_path):
    """The worker itself runs as uid 61001, here in a mount namespace where /root (which
    holds this machine's Python) can be traversed; its sandbox uses a user namespace."""
    secret = tmp_path / "root-secret"
    secret.write_text("root-only-beef")
    secret.chmod(0o600)
    tmp_path.chmod(0o755)
    work = Path("/tmp") / f"rp-nonroot-{os.getpid()}"
    work.mkdir(mode=0o777, exist_ok=True)
    work.chmod(0o777)
    script = work / "probe.py"
    script.write_text(
        NON_ROOT_SCRIPT.format(base=str(BASE_DIR), root=str(work / "sb"), secret=str(secret))
    )
    python = Path(sys.executable)
    pyenv = Path(os.path.realpath(python)).parents[3]  # /root/.pyenv when it lives there
    expose = ""
    if str(pyenv).startswith("/root/"):
        expose = textwrap.dedent(f"""
            mkdir -p /run/rp-expose && mount --bind {pyenv} /run/rp-expose
            mount -t tmpfs -o mode=755 tmpfs /root
            mkdir -p {pyenv} && mount --bind /run/rp-expose {pyenv}
        """)
    shell = (
        f"set -e\n{expose}\nexec setpriv --reuid={NON_ROOT_UID} --regid={NON_ROOT_UID} "
        f"--clear-groups {python} {script}\n"
    )
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", shell],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": str(work)},
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    assert report["worker_uid"] == NON_ROOT_UID
    inside = report["inside"].splitlines()
    assert inside[0] != "0"
    assert "root-only-beef" not in report["inside"]
    assert report["server"] == "postgres"  # superuser of its own cluster, harmless
    assert report["pg_read_file"] != "read"
