"""MetricsReader over SQLite: the counting queries behind `swarm stats` and the UI's /metrics."""

from __future__ import annotations

from typing import Any

from swarm.adapters.sqlite.handle import Handle, dicts, tuples


class SqliteMetrics:
    def __init__(self, handle: Handle):
        self.handle = handle

    def runs_by_age(self) -> list[dict[str, Any]]:
        return dicts(self.handle, "SELECT * FROM runs ORDER BY created_at")

    def tally_rows(self, run_id: str) -> dict[str, Any]:
        p = (run_id,)
        dialect = self.handle.dialect

        def rows(sql: str) -> list[tuple]:
            return tuples(self.handle, sql, p)

        found = {
            "nodes": rows("SELECT script, status, COUNT(*) FROM nodes WHERE run_id=? GROUP BY script, status"),
            "scripts": rows("SELECT id, script FROM nodes WHERE run_id=?"),
            # only the detail the tally reads: retries' errors and the tools called
            "events": rows("SELECT kind, node_id, CASE WHEN kind IN ('retry', 'tool_calls') THEN detail END FROM events "
                           "WHERE run_id=? AND kind IN ('execute', 'retry', 'tool_calls')"),
            "failed_errors": [e for (e,) in rows(f"SELECT {dialect.json_text('state', 'error')} FROM nodes "
                                                 "WHERE run_id=? AND status='failed'")],
            "calls": rows("SELECT COALESCE(NULLIF(model, ''), 'unknown'), error, prompt_tokens, completion_tokens, "
                          "cost_usd, latency_ms FROM llm_calls WHERE run_id=?"),
        }
        [(found["json_repaired"],)] = rows("SELECT COUNT(*) FROM llm_calls WHERE run_id=? AND reply IS NOT NULL "
                                           f"AND {dialect.json_true('reply', 'json_repaired')}")
        return found

    def calls_span(self, run_id: str | None = None) -> tuple[float | None, float | None, int]:
        where, params = ("WHERE run_id=?", (run_id,)) if run_id else ("", ())
        return tuples(self.handle, f"SELECT MIN(at), MAX(at), COUNT(*) FROM llm_calls {where}", params)[0]

    def calls_by_bucket(self, start: float, width: float, run_id: str | None = None) -> list[tuple]:
        where, params = ("WHERE run_id=?", (run_id,)) if run_id else ("", ())
        bucket = self.handle.dialect.whole("(at - ?) / ?")
        return tuples(self.handle, f"SELECT {bucket} AS bucket, COUNT(*), SUM(prompt_tokens), "
                                   f"SUM(completion_tokens), SUM(cost_usd) FROM llm_calls {where} GROUP BY bucket",
                      (start, width, *params))
