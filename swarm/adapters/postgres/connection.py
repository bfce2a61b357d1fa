"""A psycopg 3 connection that speaks as the sqlite3 one the shared SQL is written for.

The SQL of the adapters is written once, with `?` placeholders, and runs on both backends: this wrapper turns
`?` into psycopg's `%s` (a literal `%` into `%%`), gives `execute`/`executemany` returning a cursor with
fetchone, fetchall, rowcount, description and iteration, and `in_transaction`. The connection is in autocommit
mode, as the SQLite one is: a statement alone commits; the store's `transaction()` sends BEGIN and COMMIT.
Sums of integers come back as int (PostgreSQL's numeric would be Decimal), as SQLite gives them.
PostgreSQL's text holds no NUL character, which SQLite's does: a text parameter's NUL goes as U+FFFD (`text_params`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Sequence

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus


@lru_cache(maxsize=4096)
def placeholders(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (none of our SQL holds a `?` inside a string)."""
    return sql.replace("%", "%%").replace("?", "%s")


def text_params(params: Sequence[Any]) -> tuple[Any, ...]:
    """The parameters as PostgreSQL takes them: each NUL of a text as U+FFFD. A text with a NUL (a goal, a question,
    an id from a request) would else fail the statement ("text fields cannot contain NUL"); written, it keeps every
    other character; an id looked up with one finds nothing, as on SQLite."""
    if any(isinstance(v, str) and "\x00" in v for v in params):
        return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in params)
    return tuple(params)


class NumericAsNumber(Loader):
    """numeric (what sum() of bigint gives) as int when whole, else float: the values SQLite gives back."""

    def load(self, data: Any) -> Any:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


# A session idle inside a transaction this long is a client frozen or cut off mid-commit (SIGSTOP, a paused VM, a
# lost network): the server ends it and releases its row locks, so the other workers (and the takeover of its runs,
# swarm/leases.py) never wait on it longer. The store's transactions send their statements back to back.
IDLE_IN_TRANSACTION_MS = 5000


def connect(url: str) -> psycopg.Connection:
    """A new autocommit connection to `url`, its results typed as the shared SQL expects."""
    conn = psycopg.connect(url, autocommit=True,
                           options=f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}")
    conn.adapters.register_loader("numeric", NumericAsNumber)
    return conn


class Connection:
    """sqlite3.Connection's surface over a psycopg connection (see the module's docstring)."""

    def __init__(self, raw: psycopg.Connection, url: str | None = None):
        self.raw = raw
        self.url = url  # given: a connection the server ended (see IDLE_IN_TRANSACTION_MS) is made again when next used
        self.setup: list[str] = []  # statements to run again on a new connection (SET ...)

    def execute(self, sql: str, params: Sequence[Any] | None = ()) -> psycopg.Cursor:
        if self.url and self.broken:  # the transaction it was in failed already: the next statement starts afresh
            self.raw = connect(self.url)
            for statement in self.setup:
                self.raw.cursor().execute(statement)
        cursor = self.raw.cursor()
        if params:
            cursor.execute(placeholders(sql), text_params(params))
        else:
            cursor.execute(sql)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(placeholders(sql), [text_params(r) for r in rows])
        return cursor

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.url = None  # closed on purpose: never made again
        self.raw.close()
