"""connect_target's refusal: libpq's reason with its hint, in one line a person reads."""

import psycopg
import pytest

from migrations_ops.runners.base import RunnerError, connect_target, connection_failure_reason

HINT = "Is the server running on that host and accepting TCP/IP connections?"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        # One address: the reason sits after it, the hint on a tab-indented line of its own.
        (
            'connection failed: connection to server at "127.0.0.1", port 1 failed: '
            f"Connection refused\n\t{HINT}",
            f"Connection refused. {HINT}",
        ),
        # localhost: libpq tries ::1, then 127.0.0.1; the last attempt is what is said.
        (
            'connection failed: connection to server at "::1", port 1 failed: '
            f'Connection refused\n\t{HINT}\nconnection to server at "127.0.0.1", port 1 '
            f"failed: Connection refused\n\t{HINT}",
            f"Connection refused. {HINT}",
        ),
        (
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
            'FATAL:  database "nosuchdb" does not exist',
            'database "nosuchdb" does not exist',
        ),
        (
            "failed to resolve host 'db.invalid': [Errno -2] Name or service not known",
            "failed to resolve host 'db.invalid': [Errno -2] Name or service not known",
        ),
        ("", "OperationalError"),
    ],
)
def test_it_keeps_the_reason_and_its_hint(message, reason):
    assert connection_failure_reason(psycopg.OperationalError(message)) == reason


def test_a_closed_port_says_refused_not_only_the_hint():
    with pytest.raises(RunnerError) as e:
        connect_target("postgresql://postgres:pw@127.0.0.1:1/postgres", "down", timeout=3)
    assert str(e.value) == f"could not connect to down (127.0.0.1:1): Connection refused. {HINT}"
    assert "\t" not in str(e.value) and "pw" not in str(e.value)
