"""Throwaway databases on the scratch server (the system PostgreSQL in tests).

These tests never touch the portal's own test database: each one gets empty scratch
databases that are dropped afterwards, whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migrations_ops.pg import pgtools, scratch


@pytest.fixture
def server_url() -> str:
    return pgtools.scratch_server_url()


@pytest.fixture
def make_database(server_url) -> Iterator:
    """``make_database(purpose)`` -> URL of a new empty database, dropped after the test."""
    stack: list = []

    def make(purpose: str = "test") -> str:
        manager = scratch.scratch_database(purpose=purpose, server_url=server_url)
        url = manager.__enter__()
        stack.append(manager)
        return url

    yield make
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def database(make_database) -> str:
    return make_database("test")


@pytest.fixture
def conn(database) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database, autocommit=True) as connection:
        yield connection


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
