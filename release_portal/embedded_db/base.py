"""The portal's PostgreSQL backend, starting the embedded server on first connection.

Settings stay free of side effects: importing them (mypy, ``manage.py check``) never
starts a server; the first real connection does, and reuses a running one.
"""

from pathlib import Path
from typing import Any

from release_portal import embedded
from release_portal.db import base

_checked: set[str] = set()  # folders whose portal database exists, once per process


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        pgdata = Path(self.settings_dict["EMBEDDED_PGDATA"])
        # Cheap when the server runs; starts it again if it stopped (a restart, a crash).
        host = embedded.socket_dir_if_running(pgdata) or embedded.socket_dir(pgdata)
        if str(pgdata) not in _checked:
            embedded.ensure_database(pgdata)
            _checked.add(str(pgdata))
        self.settings_dict["HOST"] = host
        return super().get_connection_params()
