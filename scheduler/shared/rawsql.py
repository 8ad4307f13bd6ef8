"""The few statements the scheduler leader runs on every dispatch, written once instead of compiled per call.

The ORM builds the SQL of a queryset anew on every call; for a statement run a few times a second with a
row or two, that compilation costs more CPU than the database's own work (a profile of the leader found
~0.4-1 ms per statement against ~0.08 ms for the same statement through a plain cursor). The statements
here are built once per database connection and adapt parameters and convert results exactly as the ORM
does (the fields' get_db_prep_save, connection.ops.adapt_datetimefield_value, the backend's and the
fields' converters), so they read and write what the ORM would, on PostgreSQL and SQLite alike.

Anything not on the hot path stays in the ORM.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from django.db.models.expressions import Col
from django.db.utils import DEFAULT_DB_ALIAS

# One statement for run_many: (SQL, its parameters, whether it returns rows); and its (rowcount, rows or None).
Statement = tuple[str, Sequence[Any], bool]
Result = tuple[int, list[tuple[Any, ...]] | None]


def statement[T](key: str, build: Callable[[BaseDatabaseWrapper], T], using: str = DEFAULT_DB_ALIAS) -> T:
    """`build(connection)`'s result, built once per database connection wrapper (SQL text, converters) and
    kept on it (each thread has its own wrapper)."""
    conn = connections[using]
    cache: dict[str, Any] | None = conn.__dict__.get("_vigia_statements")
    if cache is None:
        cache = conn.__dict__["_vigia_statements"] = {}
    found = cache.get(key)
    if found is None:
        found = cache[key] = build(conn)
    return found


def quoted(conn: BaseDatabaseWrapper, name: str | None) -> str:
    """A table's or a concrete field's column name (`Field.column`, typed optional), quoted."""
    assert name is not None  # a concrete field always has a column
    return conn.ops.quote_name(name)


def datetime_param(conn: BaseDatabaseWrapper, value: datetime | None) -> datetime | str | None:
    """A datetime as a statement parameter, as the ORM would pass it (None stays None)."""
    return conn.ops.adapt_datetimefield_value(value)


class ModelRows[M: Model]:
    """SELECT every concrete field of `model` (in model order) … `tail`; rows come back as model instances.

    `tail` is the SQL after the column list: "FROM … WHERE … ORDER BY …", with %s placeholders.
    """

    def __init__(self, conn: BaseDatabaseWrapper, model: type[M], tail: str) -> None:
        table = quoted(conn, model._meta.db_table)
        fields = model._meta.concrete_fields
        self.model = model
        self.alias = conn.alias
        self.sql = f"SELECT {', '.join(f'{table}.{quoted(conn, f.column)}' for f in fields)} {tail}"
        self.converters: list[tuple[int, Col, list[Any]]] = []  # (column index, column, converter functions)
        for index, field in enumerate(fields):
            col = field.get_col(model._meta.db_table)
            found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if found:
                self.converters.append((index, col, found))
        self.conn = conn

    def fetch(self, cursor: CursorWrapper, params: Sequence[Any]) -> list[M]:
        cursor.execute(self.sql, params)
        return self.instances(cursor.fetchall())

    def instances(self, rows: Sequence[Sequence[Any]]) -> list[M]:
        """Model instances from rows this statement returned."""
        if not rows:
            return []
        conn, converters, make, alias = self.conn, self.converters, self.model.from_db, self.alias
        instances: list[M] = []
        for row in rows:
            values = list(row)
            for index, col, functions in converters:
                value = values[index]
                for convert in functions:
                    value = convert(value, col, conn)
                values[index] = value
            # field_names=None: the values are every concrete field's, so Django never reads it (not in the stubs)
            instances.append(make(alias, None, values))  # type: ignore[arg-type]
        return instances


def split_row(readers: Sequence[ModelRows[Any]], row: Sequence[Any]) -> list[Any]:
    """Model instances from one row holding each ModelRows' columns in turn (a joined SELECT, or a claim's
    RETURNING followed by the related rows fetched apart)."""
    found: list[Any] = []  # one instance per reader, each of its own model
    start = 0
    for reader in readers:
        width = len(reader.model._meta.concrete_fields)
        found += reader.instances([row[start : start + width]])
        start += width
    return found


class InsertReturningPk[M: Model]:
    """INSERT model instances (every concrete field but the auto primary key), setting their primary keys.

    What bulk_create does for a model without auto_now fields or db defaults, minus its per-call
    compilation. Where the database cannot return ids from a multi-row INSERT, bulk_create is used.
    """

    def __init__(self, conn: BaseDatabaseWrapper, model: type[M], batch: int) -> None:
        self.model = model
        self.conn = conn
        self.pk = model._meta.pk
        self.fields: list[Field[Any, Any]] = [f for f in model._meta.concrete_fields if f is not self.pk]
        self.supported = conn.features.can_return_rows_from_bulk_insert and not any(
            f.has_db_default() for f in self.fields
        )
        table = quoted(conn, model._meta.db_table)
        columns = ", ".join(quoted(conn, f.column) for f in self.fields)
        self.head = f"INSERT INTO {table} ({columns}) VALUES "
        self.row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        self.tail = f" RETURNING {table}.{quoted(conn, self.pk.column)}"
        self.batch = max(1, min(batch, conn.ops.bulk_batch_size(self.fields, [None] * batch)))
        self._sql: dict[int, str] = {}  # by the number of rows

    def insert(self, cursor: CursorWrapper, objs: Sequence[M]) -> None:
        if not self.supported:
            if objs:
                self.model._default_manager.using(self.conn.alias).bulk_create(objs, batch_size=self.batch)
            return
        for sql, params, chunk in self.statements(objs):
            cursor.execute(sql, params)
            self.assign(chunk, cursor.fetchall())

    def statements(self, objs: Sequence[M]) -> list[tuple[str, list[Any], Sequence[M]]]:
        """[(sql, params, objs)]: one INSERT … RETURNING per chunk of objs (only when `supported`)."""
        conn, fields = self.conn, self.fields
        found: list[tuple[str, list[Any], Sequence[M]]] = []
        for start in range(0, len(objs), self.batch):
            chunk = objs[start : start + self.batch]
            params: list[Any] = []
            for obj in chunk:
                params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection=conn) for f in fields)
            sql = self._sql.get(len(chunk))
            if sql is None:
                sql = self._sql[len(chunk)] = self.head + ", ".join([self.row] * len(chunk)) + self.tail
            found.append((sql, params, chunk))
        return found

    def assign(self, chunk: Sequence[M], rows: Sequence[Sequence[Any]]) -> None:
        """Set the primary keys an INSERT from statements() returned."""
        alias = self.conn.alias
        for obj, (pk,) in zip(chunk, rows, strict=True):
            setattr(obj, self.pk.attname, pk)
            obj._state.adding = False
            obj._state.db = alias


class InsertArrays[M: Model](InsertReturningPk[M]):
    """InsertReturningPk with one parameter per column instead of one per value, on PostgreSQL:
    INSERT … SELECT … FROM unnest(%s::type[], …) WITH ORDINALITY … ORDER BY the ordinality RETURNING pk.

    A VALUES list of thousands of placeholders is a new statement text for psycopg to parse every time
    (~1 µs a placeholder, the larger part of a bulk insert's client CPU: 10,000 people and their jobs, half a
    million values); this text is the same for any number of rows and the columns travel as binary arrays.
    Elsewhere (SQLite) it is InsertReturningPk."""

    def __init__(self, conn: BaseDatabaseWrapper, model: type[M], batch: int) -> None:
        super().__init__(conn, model, batch)
        self.arrays = self.supported and conn.vendor == "postgresql"
        if self.arrays:
            table = quoted(conn, model._meta.db_table)
            names = [f"v{index}" for index in range(len(self.fields))]
            columns = ", ".join(quoted(conn, f.column) for f in self.fields)
            self.sql = (
                f"INSERT INTO {table} ({columns}) SELECT {', '.join(names)} FROM unnest("
                + ", ".join(f"%s::{f.db_type(conn)}[]" for f in self.fields)
                + f") WITH ORDINALITY AS rows ({', '.join(names)}, position) ORDER BY position"
                + f" RETURNING {table}.{quoted(conn, self.pk.column)}"
            )
            self.batch = batch

    def insert(self, cursor: CursorWrapper, objs: Sequence[M]) -> None:
        if not self.arrays:
            return super().insert(cursor, objs)
        conn = self.conn
        for start in range(0, len(objs), self.batch):
            chunk = objs[start : start + self.batch]
            columns = [
                [f.get_db_prep_save(f.pre_save(obj, True), connection=conn) for obj in chunk] for f in self.fields
            ]
            cursor.execute(self.sql, columns)
            self.assign(chunk, cursor.fetchall())
        return None


class InsertNew[M: Model](InsertReturningPk[M]):
    """INSERT model instances, skipping any that would collide on the `unique` fields (ON CONFLICT … DO
    NOTHING): returns the `returning` field's value of each row really inserted (a tuple of values when
    `returning` names several fields), in one statement per chunk.

    What "insert unless it is there, and tell me which were new" costs without it: a savepoint, the insert
    and its release (an IntegrityError aborts the caller's transaction otherwise), or a SELECT before an
    insert that ignores conflicts and cannot say which rows it skipped. PostgreSQL and SQLite (≥ 3.35)
    both accept the statement."""

    def __init__(
        self,
        conn: BaseDatabaseWrapper,
        model: type[M],
        unique: Sequence[str],
        returning: str | Sequence[str],
        batch: int = 500,
    ) -> None:
        super().__init__(conn, model, batch)
        conflict = ", ".join(quoted(conn, _field(model, name).column) for name in unique)
        self.single = isinstance(returning, str)
        names = [returning] if isinstance(returning, str) else returning
        back = ", ".join(quoted(conn, _field(model, name).column) for name in names)
        self.tail = f" ON CONFLICT ({conflict}) DO NOTHING RETURNING {back}"

    # Not the base's insert(cursor, objs): this one opens its own cursor and returns what it inserted.
    def insert(self, objs: Sequence[M]) -> list[Any]:  # type: ignore[override]
        found: list[Any] = []
        with self.conn.cursor() as cursor:
            for sql, params, _chunk in self.statements(objs):
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                found += [row[0] for row in rows] if self.single else [tuple(row) for row in rows]
        return found


def _field(model: type[Model], name: str) -> "Field[Any, Any]":
    """A concrete field by name (get_field is typed as possibly a reverse relation, which has no column)."""
    return cast("Field[Any, Any]", model._meta.get_field(name))


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def several_at_once(cursor: CursorWrapper) -> bool:
    """Can one execute() on this (Django) cursor run several statements? psycopg 3's client-side binding
    cursor (Django's default for PostgreSQL) sends them in one round trip; SQLite's cursor and server-side
    binding cannot."""
    if cursor.db.vendor != "postgresql":
        return False
    from psycopg import ClientCursor  # here, not at the top: a SQLite install never loads psycopg

    return isinstance(getattr(cursor, "cursor", None), ClientCursor)


def run_many(cursor: CursorWrapper, statements: Sequence[Statement]) -> list[Result]:
    """Execute [(sql, params, returns rows)] in order; returns [(rowcount, rows or None)], one per statement.

    Where the cursor allows it (several_at_once), in one round trip: one execute() of the statements joined
    by ";". An error in any statement raises as from a single execute(), and none after it runs. (Whether a
    statement returns rows is said, not asked: psycopg builds the whole description to answer that.)"""
    if len(statements) == 1 or not several_at_once(cursor):
        results: list[Result] = []
        for sql, params, returns in statements:
            cursor.execute(sql, params)
            results.append((cursor.rowcount, cursor.fetchall() if returns else None))
        return results
    cursor.execute("; ".join(sql for sql, _, _ in statements), [p for _, params, _ in statements for p in params])
    results = []
    for index, (_, _, returns) in enumerate(statements):
        if index and not cursor.nextset():
            raise RuntimeError(f"{len(statements)} statements gave {index} results")
        results.append((cursor.rowcount, cursor.fetchall() if returns else None))
    return results
