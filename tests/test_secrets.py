"""Secrets and patient data: credentials come from the environment only and appear in no file,
log line or error; PHI spans never reach a log; errors are one line unless debug=true."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

from medft.config.errors import UserError

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[1]
PLANTED_WANDB = "wandb-planted-key-0123456789abcdef0123456789abcdef"  # made up: 40+ characters like a real one


def forms(secret: str) -> list[bytes]:
    """The ways a key could be written: as is, URL-quoted, base64 (alone and as HTTP Basic
    `api:<key>`, which is how wandb authenticates), hex, and UTF-16."""
    return [
        secret.encode(),
        urllib.parse.quote(secret, safe="").encode(),
        base64.b64encode(secret.encode()),
        base64.b64encode(f"api:{secret}".encode()),
        secret.encode().hex().encode(),
        secret.encode("utf-16-le"),
    ]


def assert_absent(secret: str, folder: Path, *texts: str) -> int:
    """No file under `folder` and none of `texts` holds `secret` in any form; returns files scanned."""
    scanned = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            scanned += 1
            for form in forms(secret):
                assert form not in data, f"{path} holds the secret ({form[:12]!r}...)"
    for text in texts:
        for form in forms(secret):
            assert form.decode("latin-1") not in text, "a log line holds the secret"
    return scanned


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "WANDB_API_KEY", "HUGGING_FACE_HUB_TOKEN")}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout
    )


# --- the planted key ------------------------------------------------------------------------


def test_planted_keys_are_used_and_found_in_no_file_or_log(tmp_path):
    """Acceptance: HF_TOKEN and WANDB_API_KEY planted; a plain run and a 2-job sweep (wandb offline,
    hub.push to a local stand-in for the Hub, which must receive the token), then every file under
    the outputs (run folders, the sweep folder, .hydra/, train.log, wandb's offline files) and the
    console logs are scanned for either key in any plausible encoding."""
    from conftest import TINY
    from test_hub import TOKEN, StandInHub

    server = StandInHub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = _env(
        HF_TOKEN=TOKEN,
        WANDB_API_KEY=PLANTED_WANDB,
        HF_ENDPOINT=server.url,
        HF_HUB_OFFLINE="0",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
    )
    common = [
        *[o for o in TINY if not o.startswith("logger=")],
        "logger=wandb",
        "hub.push=true",
        "hub.repo_id=tester/planted",
        f"output_root={tmp_path / 'outputs'}",
        f"cache_dir={tmp_path / 'cache'}",
        "eval.validation=false",
    ]
    try:
        single = _run([str(ROOT / "train.py"), *common, "name=planted"], tmp_path, env)
        swept = _run([str(ROOT / "train.py"), "-m", *common, "name=planted_sweep", "seed=1,2"], tmp_path, env)
    finally:
        server.shutdown()
        server.server_close()
    logs = [single.stdout, single.stderr, swept.stdout, swept.stderr]
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    assert swept.returncode == 0, swept.stdout[-3000:] + swept.stderr[-3000:]
    # Used: every run pushed with the token (whoami, create, commit); wandb logged offline with its key set.
    # (huggingface_hub also makes an anonymous GET /api/agent-harnesses, which needs no token.)
    needs_token = [r for r in server.requests if r["path"].startswith(("/api/whoami", "/api/repos", "/api/models"))]
    commits = [r for r in needs_token if "/commit/" in r["path"]]
    assert len(commits) == 3, [r["path"] for r in server.requests]
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in needs_token)
    outputs = tmp_path / "outputs"
    assert len(list(outputs.rglob("offline-run-*"))) == 3  # wandb ran (offline) in all three runs
    assert len(list(outputs.rglob("train.log"))) == 3 and len(list(outputs.rglob("manifest.json"))) == 3
    assert list(outputs.glob("planted_sweep/multirun/*/sweep.json"))
    scanned = assert_absent(TOKEN, outputs, *logs) and assert_absent(PLANTED_WANDB, outputs, *logs)
    assert scanned > 50


def test_the_scan_finds_a_key_in_each_form(tmp_path):
    """The acceptance scan can fail: a file holding any one form of the key is caught."""
    for i, form in enumerate(forms(PLANTED_WANDB)):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "leak.bin").write_bytes(b"prefix " + form + b" suffix")
        with pytest.raises(AssertionError, match="holds the secret"):
            assert_absent(PLANTED_WANDB, folder)
    (tmp_path / "clean").mkdir()
    with pytest.raises(AssertionError, match="log line"):
        assert_absent(PLANTED_WANDB, tmp_path / "clean", f"INFO key={PLANTED_WANDB}")


# --- credentials only from the environment --------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("hub.token", True),
        ("logger.api_key", True),
        ("db.password", True),
        ("x.client_secret", True),
        ("hf_token", True),
        ("logger.apikey", True),
        ("task.max_new_tokens", False),
        ("peft_method.num_virtual_tokens", False),
        ("model.pad_token", False),
        ("arch.experts_per_token", True),
        ("tokenizer", False),
        ("secretary", False),
    ],
)
def test_which_keys_count_as_credentials(key, secret):
    from medft.config.secrets import is_secret_key, secret_overrides

    assert is_secret_key(key.split(".")[-1]) is secret
    assert (secret_overrides([f"+{key}=abcdefgh"]) == [key]) is secret
    assert secret_overrides([f"{key}=2", f"++{key}=null", f"{key}=true"]) == []  # settings, not credentials


def test_a_credential_in_the_config_is_refused_without_echoing_it(compose):
    from medft.config.validate import validate

    cfg = compose(["model=tiny-random", "+hub.token=hf_inConfig0123456789", "+logger.api_key=wb_inConfig0123456789"])
    with pytest.raises(UserError) as err:
        validate(cfg)
    message = str(err.value)
    assert "hub.token" in message and "logger.api_key" in message and "HF_TOKEN" in message
    assert "WANDB_API_KEY" in message and "inConfig" not in message
    interpolated = compose(["model=tiny-random", "+hub.token=${oc.env:HF_TOKEN,none}"])  # not a literal, still no key
    with pytest.raises(UserError, match="hub.token: no config key holds a credential.*export HF_TOKEN"):
        validate(interpolated)


def test_a_credential_on_the_command_line_stops_before_hydra_writes_anything(tmp_path):
    result = _run(
        [
            str(ROOT / "train.py"),
            "model=tiny-random",
            "dry_run=true",
            f"output_root={tmp_path / 'out'}",
            "+hub.token=hf_onTheCommandLine0123456789",
        ],
        tmp_path,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "hub.token" in out and "export HF_TOKEN" in out, out
    assert "onTheCommandLine" not in out and "Traceback" not in out
    assert not (tmp_path / "out").exists()  # no .hydra/overrides.yaml holding it
    generate = _run(
        ["-m", "medft", "generate", "model=tiny-random", "prompt=hi", "+logger.api_key=wb_0123456789ab"], tmp_path
    )
    assert generate.returncode == 2 and "0123456789ab" not in generate.stdout + generate.stderr


def test_a_credential_in_a_config_file_is_masked_in_the_files_hydra_already_wrote(tmp_path):
    """A credential in a YAML file: under a key no schema has, Hydra refuses the file before writing
    anything; inside a URL of a real key, it reaches .hydra/config.yaml before the job starts, and is
    refused there, the copies Hydra wrote masked."""
    conf = tmp_path / "conf"
    (conf / "logger").mkdir(parents=True)
    (conf / "logger" / "leaky.yaml").write_text(
        "# a user's logger config with a key pasted into it\nname: none\napi_key: wb_inAFile0123456789\n"
    )
    result = _run(
        [
            str(ROOT / "train.py"),
            f"--config-dir={conf}",
            "model=tiny-random",
            "logger=leaky",
            "dry_run=true",
            f"output_root={tmp_path / 'out'}",
        ],
        tmp_path,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "logger.api_key" in out and not (tmp_path / "out").exists(), out[-3000:]
    assert_absent("wb_inAFile0123456789", tmp_path / "out", out)
    (conf / "experiment").mkdir()
    (conf / "experiment" / "leaky.yaml").write_text(
        "# @package _global_\nhub:\n  endpoint: https://alice:hf_inAFile0123456789@hub.example.org\n"
    )
    result = _run(
        [
            str(ROOT / "train.py"),
            f"--config-dir={conf}",
            "model=tiny-random",
            "experiment=leaky",
            "dry_run=true",
            f"output_root={tmp_path / 'out'}",
        ],
        tmp_path,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "hub.endpoint=https://hub.example.org" in out and "HF_TOKEN" in out, out[-3000:]
    written = list((tmp_path / "out").rglob(".hydra/config.yaml"))
    assert written and "endpoint: REDACTED" in written[0].read_text()  # Hydra had written it; now masked
    assert_absent("hf_inAFile0123456789", tmp_path / "out", out)


# --- masking in logs and errors -------------------------------------------------------------


@pytest.fixture
def captured_root():
    """A handler on the root logger, as a run's console and train.log handlers are."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_the_log_filter_masks_environment_secrets_in_every_form(monkeypatch, captured_root):
    from medft.config.secrets import install_log_redaction

    monkeypatch.setenv("WANDB_API_KEY", PLANTED_WANDB)
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "pw-hunter2-long")
    install_log_redaction()
    log = logging.getLogger("medft.test")
    log.warning("key %s in a URL ?k=%s", PLANTED_WANDB, urllib.parse.quote(PLANTED_WANDB))
    log.warning("Authorization: Basic %s", base64.b64encode(PLANTED_WANDB.encode()).decode())
    log.warning("db pw-hunter2-long")
    try:
        raise RuntimeError(f"connection refused for {PLANTED_WANDB}")
    except RuntimeError:
        log.exception("failed")
    text = captured_root.getvalue()
    assert PLANTED_WANDB not in text and "hunter2" not in text
    assert base64.b64encode(PLANTED_WANDB.encode()).decode() not in text
    assert text.count("***") >= 5 and "RuntimeError" in text  # the trace is kept, masked


def test_errors_are_one_masked_line_and_debug_shows_the_trace(monkeypatch, captured_root):
    from omegaconf import OmegaConf

    from medft.cli import guarded

    monkeypatch.setenv("HF_TOKEN", "hf_inAnError0123456789")
    monkeypatch.delenv("MEDFT_DEBUG", raising=False)

    def fails(err):
        def job():
            raise err

        return job

    with pytest.raises(SystemExit) as code:
        guarded(fails(UserError("bad token hf_inAnError0123456789: set X")), OmegaConf.create({"debug": False}))
    assert code.value.code == 2
    with pytest.raises(SystemExit) as code:
        guarded(fails(KeyError("hf_inAnError0123456789")), OmegaConf.create({"debug": False}))
    assert code.value.code == 1
    text = captured_root.getvalue()
    assert "inAnError" not in text and "Traceback" not in text and "rerun with debug=true" in text
    with pytest.raises(KeyError):  # debug=true: the exception itself, so its stack trace is printed
        guarded(fails(KeyError("x")), OmegaConf.create({"debug": True}))
    monkeypatch.setenv("MEDFT_DEBUG", "1")
    with pytest.raises(UserError):
        guarded(fails(UserError("x")), OmegaConf.create({"debug": False}))


def test_a_failed_sweep_job_records_its_error_without_the_secret(tmp_path, monkeypatch, compose):
    from medft.sweep.jobs import run_sweep_job

    monkeypatch.setenv("HF_TOKEN", "hf_inAJobError0123456789")

    def fails(cfg, run_dir):
        raise RuntimeError("401 for token hf_inAJobError0123456789")

    (tmp_path / "sweep").mkdir()
    with pytest.raises(RuntimeError):
        run_sweep_job(
            compose(["model=tiny-random"]),
            str(tmp_path / "sweep" / "seed=1"),
            ["seed=1"],
            fails,
            sweep_dir=str(tmp_path / "sweep"),
        )
    error = (tmp_path / "sweep" / "seed=1" / "error.txt").read_text()
    assert "RuntimeError" in error and "***" in error  # the trace is kept, the token masked
    assert_absent("hf_inAJobError0123456789", tmp_path / "sweep")


MISSING = "/nonexistent/medft-input"
ENTRY_POINTS = {  # a command that fails on a bad input path, and what its message must name
    "train.py": (
        [str(ROOT / "train.py"), "model=tiny-random", "dataset=jsonl", f"dataset.path={MISSING}", "dry_run=true"],
        "dataset.path",
    ),
    "evaluate.py": ([str(ROOT / "evaluate.py"), f"run_dir={MISSING}"], MISSING),
    "medft generate": (["-m", "medft", "generate", f"run_dir={MISSING}", "prompt=hi"], MISSING),
    "medft export": (["-m", "medft", "export", f"run_dir={MISSING}"], MISSING),
    "medft data": (["-m", "medft", "data", "scrub", MISSING, "--out", "x.txt"], MISSING),
    "medft hub": (["-m", "medft", "hub", MISSING], MISSING),
    "medft report": (["-m", "medft", "report", MISSING, "--out", "report"], MISSING),
    "medft launch": (["-m", "medft", "launch", "--print", "model=tiny-random", "hardware=cpu"], "runs one process"),
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_prints_the_error_not_a_stack_trace(tmp_path, name):
    args, needle = ENTRY_POINTS[name]
    result = _run(args, tmp_path, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 2 and needle in out and "Traceback" not in out, out[-3000:]


def test_debug_true_shows_the_stack_trace(tmp_path):
    args, _ = ENTRY_POINTS["train.py"]
    result = _run([*args, "debug=true"], tmp_path, timeout=300)
    assert result.returncode != 0 and "Traceback" in result.stderr + result.stdout
    data = _run(["-m", "medft", "data", "scrub", MISSING, "--out", "x.txt"], tmp_path, _env(MEDFT_DEBUG="1"))
    assert data.returncode == 2 and "Traceback" not in data.stderr  # a UserError: argparse commands print it


# --- patient data ---------------------------------------------------------------------------


def test_phi_spans_never_reach_the_logs(tiny_cfg, tmp_path, caplog):
    from medft.data import phi
    from medft.recipes.train import run

    rows = [
        {
            "prompt": f"Patient John Smith, MRN 48213{i:02d}, seen on 03/14/2021, call 617-555-01{i:02d}. "
            f"What is the next step {i}?",
            "response": f"Answer {i % 3}",
        }
        for i in range(40)
    ]
    path = tmp_path / "phi.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spans = {text[s.start : s.end] for r in rows for text in (r["prompt"],) for s in phi.scan(text)}
    assert len(spans) >= 40  # names, MRNs, dates and phone numbers were found: the check is not empty
    caplog.set_level(logging.DEBUG)
    run(
        tiny_cfg(
            "dataset=jsonl",
            f"dataset.path={path}",
            "dataset.contains_notes=true",
            "dataset.phi=allow",
            "eval.before=false",
        ),
        tmp_path / "run",
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "PHI guard" in logged  # the guard reported kinds and places ...
    assert not [s for s in spans if s in logged]  # ... and no span's text
