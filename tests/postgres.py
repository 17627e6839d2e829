"""A PostgreSQL database of its own for a test that runs real server processes (workers, gunicorn).

The server is $VOLUMES_TEST_POSTGRES_URL (default: the machine's, postgres@127.0.0.1:5432); the test
is skipped when none answers, unless VOLUMES_REQUIRE_POSTGRES=1 (CI) makes that a failure.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SERVER_URL = os.environ.get("VOLUMES_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE_PREFIX = os.environ.get("VOLUMES_TEST_DATABASE_PREFIX", "volumes_test_")


def connect_or_skip():
    import psycopg

    try:
        return psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("VOLUMES_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL server at {SERVER_URL}: {error}")


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty database; yields its URL and drops it afterwards."""
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:10]}"
    with connect_or_skip() as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield SERVER_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with connect_or_skip() as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
