"""The internal API docs (api_docs/*.md) as a searchable index, for prompts that write swarm code.

Each `###` entry (one context member or hook, with its example) is one retrievable section. The
prompts of write_python and make_tool get the few sections that fit their goal, never the whole
file. The sections are embedded once and cached in the store like catalogue entries.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from swarm.retrieval.hybrid import Entry

API_DOCS_DIR = Path(__file__).resolve().parent.parent / "api_docs"
ENTRY = re.compile(r"^### +(.+?)\s*$", re.MULTILINE)


@dataclass
class Section:
    name: str  # the entry's heading, e.g. "ctx.run_python"
    page: str  # the file it is in, e.g. "context.md"
    text: str  # the heading, its explanation and its example


def read_sections(folder: Path = API_DOCS_DIR) -> list[Section]:
    """Every `###` entry of every page, in page order; text before the first entry is left out."""
    sections = []
    for page in sorted(folder.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        marks = list(ENTRY.finditer(text))
        for n, mark in enumerate(marks):
            end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
            body = text[mark.start():end]
            body = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]  # stop at the next chapter heading
            sections.append(Section(mark.group(1).strip("` "), page.name, body.strip()))
    return sections


def summary(text: str, words: int = 60) -> str:
    """What is embedded of a section: its heading and the start of its explanation (BM25 reads it all).

    Short texts embed several times faster than whole sections, and the opening lines say what the entry is for.
    """
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("```")]
    return " ".join(" ".join(lines).split()[:words])


class ApiDocs:
    """Find the API entries that fit a piece of work."""

    def __init__(self, embedder: Callable[[], object], store=None, *, folder: Path = API_DOCS_DIR,
                 fusion: str = "mix", bm25_weight: float = 0.1):
        self.sections = {s.name: s for s in read_sections(folder)}
        self._embedder, self.store, self.fusion, self.bm25_weight = embedder, store, fusion, bm25_weight
        self._index = None
        self._lock = threading.Lock()

    def search(self, text: str, k: int = 3) -> list[Section]:
        from swarm.retrieval.live import live_index

        with self._lock:
            if self._index is None:
                self._index = live_index(self._embedder, self.store, fusion=self.fusion, bm25_weight=self.bm25_weight)
                self._index.add([Entry(s.name, summary(s.text), plain=True, keywords=s.text)
                                 for s in self.sections.values()])
            hits = self._index.search(text, k)
        return [self.sections[h.name] for h in hits]

    def relevant(self, text: str, k: int = 3) -> str:
        """The `k` entries that fit `text` best, as Markdown to put in a prompt."""
        return "\n\n".join(s.text for s in self.search(text, k))
