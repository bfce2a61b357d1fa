"""Nothing swarm writes into a checkout can be committed by accident: every default output path is git-ignored."""

import subprocess
from pathlib import Path

import pytest

from swarm.config import Config

REPO = Path(__file__).resolve().parent.parent


def _written_by_default() -> list[str]:
    cfg = Config()
    store = cfg.store.path
    return [
        store, f"{store}-wal", f"{store}-shm",
        str(Path(store).parent / ".swarm-ui-token"),          # the UI's token, a secret
        f"{cfg.run.workspaces_dir}/run-1/node-1/out.txt",
        f"{cfg.store.snapshots_dir}/run-1-42.json",
        f"{cfg.daemon.folder}/inbox/goal.md",
        f"{cfg.daemon.folder}/done/goal.result.md",
        f"{cfg.daemon.folder}/daemon.pid",
        f"{cfg.daemon.folder}/daemon.log",
        f"{cfg.toolsmith.folder}/slugify.py",
        "tests/.canary-ab12.secret",                          # the sandbox tests' canaries
        "tests/artifacts/ui/screenshot.png",
    ]


@pytest.mark.parametrize("path", _written_by_default())
def test_a_file_swarm_writes_into_the_checkout_is_ignored_by_git(path):
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
    assert result.returncode == 0, f"{path} is not git-ignored: add it to .gitignore"


def test_the_source_tree_is_not_ignored():
    for path in ("swarm/cli.py", "node_scripts/generated/README.md", "snapshots/.gitkeep", "swarm.toml"):
        result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
        assert result.returncode == 1, f"{path} is git-ignored but belongs to the source"
