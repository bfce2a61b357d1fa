"""Where the SQL of the two backends differs: the few words each says its own way, so that every query is
written once (with `?` placeholders; the PostgreSQL connection turns them into its own, see
swarm/adapters/postgres/connection.py). A store has a `dialect`; the adapters build their SQL with it."""

from __future__ import annotations

from typing import Sequence


class Dialect:
    name = "sqlite"
    row_order = "rowid"  # orders the rows of a table as they were written (after the keys a query orders by)
    # The row lock a read inside a write transaction needs, and the same passing over rows another is taking:
    # none on SQLite, whose BEGIN IMMEDIATE already holds every other writer off.
    for_update = ""
    skip_locked = ""

    def json_text(self, column: str, key: str) -> str:
        """The value under `key` of the JSON object in a text column, as text."""
        return f"json_extract({column}, '$.{key}')"

    def json_true(self, column: str, key: str) -> str:
        """Whether the JSON object in a text column holds true under `key`."""
        return f"json_extract({column}, '$.{key}') = 1"

    def whole(self, expr: str) -> str:
        """The whole part of a non-negative number, as an integer."""
        return f"CAST({expr} AS INTEGER)"


def json_nul_free(column: str) -> str:
    """The JSON text of a column with every `\\u0000` escape as `\\ufffd`: PostgreSQL's json and jsonb refuse a NUL
    character anywhere in the text they parse ("\\u0000 cannot be converted to text"), and a model's reply, a node's
    output or error may hold one (json.dumps writes it so). Both are six characters, `\\u` and four hex digits, so
    the text stays valid JSON whatever backslashes come before; what is read has U+FFFD for each NUL (and, in
    the rare text holding a backslash then "u0000" as letters, "ufffd" for them)."""
    return f"replace({column}, '\\u0000', '\\ufffd')"


class PostgresDialect(Dialect):
    name = "postgresql"
    row_order = "ctid"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def json_text(self, column: str, key: str) -> str:
        return f"({json_nul_free(column)}::jsonb ->> '{key}')"

    def json_true(self, column: str, key: str) -> str:
        return f"({json_nul_free(column)}::jsonb -> '{key}') = 'true'::jsonb"

    def whole(self, expr: str) -> str:
        return f"CAST(trunc({expr}) AS BIGINT)"


SQLITE = Dialect()
POSTGRES = PostgresDialect()


def upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """INSERT of one row that overwrites the row of the same `keys` when there is one (both backends say it so).
    Columns not given keep their value there, unlike SQLite's INSERT OR REPLACE: give every column to replace."""
    sets = ", ".join(f"{c}=excluded.{c}" for c in columns if c not in keys)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING"))
