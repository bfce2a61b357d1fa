"""The docker layer's image: an almost empty root filesystem, made locally with `docker import`.

No registry is needed. The image holds only the folders the worker needs and a passwd file
naming `nobody`; the Python runtime and the system libraries are bind-mounted read-only from
the host when a container starts (see docker_layer), exactly as the bubblewrap layer does.

    python -m swarm.sandbox.docker_image [IMAGE]    # makes IMAGE ([sandbox].docker_image) if missing
"""

from __future__ import annotations

import io
import os
import sys
import tarfile

from swarm.errors import SandboxUnavailable

FOLDERS = {"etc": 0o755, "tmp": 0o1777, "workspace": 0o755, "opt": 0o755, "opt/swarm": 0o755,
           "proc": 0o555, "dev": 0o755, "sys": 0o555}
FILES = {
    "etc/passwd": "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/workspace:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}
LABEL = "swarm.sandbox.image"


def root_filesystem() -> bytes:
    """The image's whole content as a tar archive: a few folders and two small files, all root's."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, mode in FOLDERS.items():
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for name, text in FILES.items():
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(raw), 0o644
            tar.addfile(info, io.BytesIO(raw))
    return data.getvalue()


FIX = 'start the engine (e.g. `dockerd &`, as root) or set [sandbox].layer = "process" in swarm.toml'


def connect():
    """A client of the Docker engine that answered a ping; SandboxUnavailable saying how to fix it otherwise."""
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable(f"the docker layer needs the `docker` Python package (pip install docker); or {FIX}") from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # docker raises DockerException, requests errors or OSError, depending on the failure
        detail = " ".join(str(exc).split())[:200]
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise SandboxUnavailable(f"the Docker engine at {where} does not answer ({detail}); {FIX}") from None
    return client


def ensure_image(client, name: str) -> bool:
    """Make the image `name` with `docker import` unless the engine has it; True when it was made now."""
    import docker.errors

    try:
        client.images.get(name)
        return False
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(_cannot_make(name, exc)) from None
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    try:
        client.api.import_image_from_data(root_filesystem(), repository=repository, tag=tag,
                                          changes=[f'LABEL {LABEL}="1"', 'CMD ["/nonexistent"]'])
        client.images.get(name)
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(_cannot_make(name, exc)) from None
    return True


def _cannot_make(name: str, exc: Exception) -> str:
    detail = " ".join(str(exc).split())[:300]
    return (f"the docker layer could not make its image {name} ({detail}); run `python -m swarm.sandbox.docker_image` "
            'to see why, or set [sandbox].layer = "process" in swarm.toml')


def main(argv: list[str]) -> int:
    from swarm.config import load_config
    from swarm.errors import SwarmError

    try:
        name = argv[0] if argv else load_config().sandbox.docker_image
        made = ensure_image(connect(), name)
    except SwarmError as exc:
        print(f"swarm: error: {exc}", file=sys.stderr)
        return 2
    if made:
        print(f"swarm: made the sandbox image {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
