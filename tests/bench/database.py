"""A throwaway database for a benchmark, so a run never touches real data."""

import os
from pathlib import Path

from django.conf import settings
from django.db import connection

from scheduler.processes import database_url


def bench_database_url(bench):
    """A database of the benchmark's own (`vigia_bench_import`, data/bench_import.sqlite3): two benchmarks,
    from two checkouts, can run on one server without dropping each other's."""
    db = connection.settings_dict
    sqlite = db["ENGINE"].endswith("sqlite3")
    name = Path(settings.DATA_DIR) / f"bench_{bench}.sqlite3" if sqlite else f"{db['NAME']}_bench_{bench}"
    return database_url(db, name)


def recreate(url):
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    _admin_sql(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")


def drop(url):
    if url.startswith("sqlite"):
        recreate(url)
    else:
        _admin_sql(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin_sql(url, *statements):
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        for statement in statements:
            admin.execute(sql.SQL(statement).format(name=sql.Identifier(name)))


def env_for(url, **extra):
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=settings.SECRET_KEY, PYTHONUNBUFFERED="1")
    # Benchmarks call their own loopback stand-ins (organizer sites, DJEN, Wuzapi, receivers): allowed
    # explicitly for the benchmark's processes, on top of whatever the operator allows.
    allowed = [entry for entry in os.environ.get("VIGIA_OUTBOUND_ALLOW", "").split(",") if entry.strip()]
    env["VIGIA_OUTBOUND_ALLOW"] = ",".join(dict.fromkeys([*allowed, "127.0.0.1"]))
    env.update({key: str(value) for key, value in extra.items()})
    return env
