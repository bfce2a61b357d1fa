"""The retrieval pieces seen through llama-index: an embedding model, a retriever, and document chunking.

The swarm's indexes (`LiveIndex`) keep their own vectors and BM25 postings so that one script or one
memory item can be added or removed alone; these adapters let llama-index pipelines use them, and
let the swarm use llama-index's node parsers to cut documents into retrievable chunks.
llama-index is imported only here, and only when one of these is used (it takes a second to load).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from swarm.retrieval.embedder import Embedder

CHUNK_WORDS = 220  # a chunk of a plain-text document: about one embedder window (256 tokens)
CHUNK_OVERLAP = 30


def _words(text: str) -> list[str]:
    # llama-index counts tokens with tiktoken by default, whose vocabulary is downloaded on first use;
    # counting words needs nothing and is close enough for cutting chunks.
    return text.split()


def chunk_document(text: str, source: str = "") -> list[dict[str, Any]]:
    """Cut a document into chunks: Markdown by its headings, anything else by sentences.

    Returns [{"text", "title"}] in document order; a Markdown section too long for one chunk is cut
    again by sentences, each piece keeping the section's heading path as its title.
    """
    from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter
    from llama_index.core.schema import Document

    splitter = SentenceSplitter(chunk_size=CHUNK_WORDS, chunk_overlap=CHUNK_OVERLAP, tokenizer=_words)
    doc = Document(text=text, metadata={"source": source})
    if Path(source).suffix.lower() in (".md", ".markdown"):
        sections = MarkdownNodeParser().get_nodes_from_documents([doc])
    else:
        sections = [doc]
    chunks = []
    for section in sections:
        body = section.get_content()
        if not body.strip():
            continue
        parts = [p for p in str(section.metadata.get("header_path", "")).split("/") if p]
        first = body.lstrip().split("\n", 1)[0]
        if first.startswith("#"):  # the section's own heading; header_path holds only those above it
            parts.append(first.lstrip("#").strip())
        title = " › ".join(parts)
        if all(not line.strip() or line.lstrip().startswith("#") for line in body.splitlines()):
            continue  # a heading with nothing under it: the sections below carry it in their titles
        pieces = [body] if len(_words(body)) <= CHUNK_WORDS else splitter.split_text(body)
        chunks.extend({"text": p.strip(), "title": title} for p in pieces if p.strip())
    return chunks


def as_llama_embedding(embedder: Embedder):
    """The embedder as a llama-index `BaseEmbedding`, for `VectorStoreIndex(..., embed_model=...)` and friends."""
    from llama_index.core.base.embeddings.base import BaseEmbedding

    class SwarmEmbedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return SwarmEmbedding(model_name=embedder.name, embed_batch_size=64)


def as_llama_retriever(search: Callable[[str, int], list[tuple[str, float, str, dict]]], top_k: int = 5):
    """A llama-index `BaseRetriever` over any swarm search: `search(query, k)` gives (id, score, text, metadata)."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, TextNode

    class SwarmRetriever(BaseRetriever):
        def _retrieve(self, query_bundle) -> list[NodeWithScore]:
            return [NodeWithScore(node=TextNode(id_=str(i), text=text, metadata=meta or {}), score=score)
                    for i, score, text, meta in search(query_bundle.query_str, top_k)]

    return SwarmRetriever()
