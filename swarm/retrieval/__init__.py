"""Retrieval over the script catalogue: pluggable embedders, BM25, and their fusion."""

from swarm.retrieval.embedder import Embedder, MiniLMEmbedder, OpenAIEmbedder, make_embedder
from swarm.retrieval.evaluate import evaluate, read_catalogue, read_jsonl, run_eval
from swarm.retrieval.hybrid import Entry, Hit, HybridIndex
from swarm.retrieval.live import LiveIndex, catalogue_entries

__all__ = ["Embedder", "MiniLMEmbedder", "OpenAIEmbedder", "make_embedder", "Entry", "Hit", "HybridIndex", "LiveIndex", "catalogue_entries",
           "evaluate", "read_catalogue", "read_jsonl", "run_eval"]
