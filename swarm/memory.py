"""The swarm's memory: what runs produce and what people add, kept in the store and found by retrieval.

An item is one text (a run's result, a note, one chunk of a document) with an optional key and
metadata. Search uses the same hybrid retrieval as routing (dense embeddings + BM25) over a live
index that follows the memory table: an item added or removed is indexed alone, and embeddings are
cached in the store, so a restart embeds nothing twice.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from swarm.errors import SwarmError
from swarm.store import Store, dumps, loads

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".rst", ".py", ".json", ".jsonl", ".toml", ".yaml", ".yml", ".csv",
                 ".html", ".xml", ".ini", ".cfg", ".sh", ".js", ".ts", ".sql", ".tex", ".log"}


class MemoryItemError(SwarmError):
    """Bad input to memory: a file that cannot be kept, an unknown item."""


class Memory:
    """Keep, list and find texts."""

    def __init__(self, store: Store, embedder: Callable[[], Any] | None = None, *, fusion: str = "mix",
                 bm25_weight: float = 0.1, max_file_kb: int = 1024, top_k: int = 5):
        self.store = store
        self._embedder = embedder
        self.fusion, self.bm25_weight, self.max_file_kb, self.top_k = fusion, bm25_weight, max_file_kb, top_k
        self._index = None
        self._lock = threading.Lock()

    # --- keeping ------------------------------------------------------------------------

    def add(self, text: str, key: str | None = None, meta: dict[str, Any] | None = None, run_id: str | None = None) -> int:
        """Keep a text (under `key`, replacing what was kept under it before); returns its id."""
        if not isinstance(text, str) or not text.strip():
            raise MemoryItemError("memory keeps text: the text to add is empty")
        return self.store.memories.add_memory({"key": key, "text": text, "meta": dumps(meta) if meta else None,
                                               "run_id": run_id, "created_at": time.time()})

    def add_files(self, paths: list[str | Path]) -> list[dict[str, Any]]:
        """Keep text files (folders: every text file in them), each cut into chunks.

        All paths are read and checked before anything is kept, so a bad one keeps nothing.
        A file added again replaces its earlier chunks. Returns [{"source", "chunks", "ids"}].
        """
        from swarm.retrieval.llama import chunk_document

        documents = [(str(p), chunk_document(self._read_text(p), str(p))) for p in self._files(paths)]
        for source, chunks in documents:
            if not chunks:
                raise MemoryItemError(f"{source} has headings but no text under them; there is nothing to keep")
        added = []
        for source, chunks in documents:
            ids = self.store.memories.replace_memory_prefix(f"file:{source}#", [
                {"key": f"file:{source}#{n}", "text": chunk["text"], "created_at": time.time(),
                 "meta": dumps({"kind": "file", "source": source, "chunk": n, "chunks": len(chunks), "title": chunk["title"]})}
                for n, chunk in enumerate(chunks, 1)])
            added.append({"source": source, "chunks": len(ids), "ids": ids})
        return added

    def remove(self, ref: str | int) -> int:
        """Forget an item by id, or every item under a key or of a source file; returns how many went."""
        if isinstance(ref, int) or str(ref).isdigit():
            gone = self.store.memories.remove_memory(item_id=int(ref))
        else:
            gone = self.store.memories.remove_memory(key=ref, key_prefix=f"file:{Path(ref).resolve()}#")
        if not gone:
            raise MemoryItemError(f"memory has no item {ref!r}; see the ids and keys with `swarm memory list`")
        return gone

    # --- reading ------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """The text kept under `key`, or None."""
        return self.store.memories.memory_text(key)

    def items(self, limit: int = 100, kind: str | None = None) -> list[dict[str, Any]]:
        """The newest items first: [{"id", "key", "text", "meta", "run_id", "created_at"}]."""
        rows = self.store.memories.memory_items(None if kind else limit)  # of one kind: read on until enough
        out = []
        for row in rows:
            row["meta"] = loads(row["meta"]) or {}
            if kind is None or row["meta"].get("kind") == kind:
                out.append(row)
            if len(out) >= limit:
                break
        return out

    def count(self) -> int:
        return self.store.memories.memory_count()

    def search(self, text: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The items that fit `text` best (`limit`, default [memory].top_k), by hybrid retrieval:
        [{"id", "key", "text", "meta", "score"}], best first."""
        limit = self.top_k if limit is None else int(limit)
        if not text or not text.strip() or limit < 1:
            return []
        with self._lock:
            index = self._synced_index()
            hits = index.search(text, limit)
        if not hits:
            return []
        ids = [int(h.name) for h in hits]
        rows = {r["id"]: r for r in self.store.memories.memory_rows(ids)}
        return [{**rows[int(h.name)], "meta": loads(rows[int(h.name)]["meta"]) or {}, "score": round(h.score, 4)}
                for h in hits if int(h.name) in rows]

    def retriever(self, top_k: int = 5):
        """This memory as a llama-index retriever (NodeWithScore results)."""
        from swarm.retrieval.llama import as_llama_retriever

        return as_llama_retriever(lambda q, k: [(m["id"], m["score"], m["text"], m["meta"]) for m in self.search(q, k)],
                                  top_k)

    def _synced_index(self):
        """The live index, brought in step with the memory table: new items added, removed ones taken out."""
        from swarm.retrieval.embedder import MiniLMEmbedder
        from swarm.retrieval.hybrid import Entry
        from swarm.retrieval.live import live_index

        if self._index is None:
            self._index = live_index(self._embedder or MiniLMEmbedder, self.store, fusion=self.fusion,
                                     bm25_weight=self.bm25_weight)
        index = self._index
        ids = {str(i) for i in self.store.memories.memory_ids()}
        for gone in [name for name in index.rows if name not in ids]:
            index.remove(gone)
        new = [i for i in ids if i not in index.rows]
        if new:
            rows = self.store.memories.memory_rows(sorted(int(i) for i in new))
            index.add([Entry(str(r["id"]), _indexed_text(r), plain=True) for r in rows])
        return index

    # --- files ---------------------------------------------------------------------------

    def _files(self, paths: list[str | Path]) -> list[Path]:
        if not paths:
            raise MemoryItemError("name at least one file or folder to add, e.g. swarm memory add notes.md docs/")
        files: list[Path] = []
        for raw in paths:
            p = Path(raw).expanduser().resolve()
            if p.is_dir():
                found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TEXT_SUFFIXES
                               and not any(part.startswith(".") for part in f.relative_to(p).parts))
                if not found:
                    raise MemoryItemError(f"{raw} holds no text files ({', '.join(sorted(TEXT_SUFFIXES)[:6])}, ...); "
                                       "name the files to add")
                files.extend(found)
            elif p.is_file():
                files.append(p)
            else:
                raise MemoryItemError(f"{raw} does not exist; name an existing file or folder")
        return files

    def _read_text(self, path: Path) -> str:
        size = path.stat().st_size
        if size > self.max_file_kb * 1024:
            raise MemoryItemError(f"{path} is {size // 1024} KB, over [memory].max_file_kb = {self.max_file_kb}; "
                               "split it, or raise the limit")
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            raise MemoryItemError(f"{path} is a binary file; memory keeps text (Markdown, plain text, code)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MemoryItemError(f"{path} is not UTF-8 text (byte {exc.start}); convert it to UTF-8 first") from None
        if not text.strip():
            raise MemoryItemError(f"{path} is empty; there is nothing to keep")
        return text


def _indexed_text(row: dict) -> str:
    meta = loads(row["meta"]) or {}
    title = meta.get("title") or meta.get("goal") or ""
    return f"{title}: {row['text']}" if title else row["text"]
