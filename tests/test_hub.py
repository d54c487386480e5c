"""hub.push against a local stand-in for the Hugging Face Hub API: a thread serving on 127.0.0.1
the endpoints huggingface_hub 2.4 calls for whoami, create_repo and upload_folder (validate-yaml,
preupload, commit), recording every request. The real client code runs unchanged against it."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from transformers import TrainerCallback

from medft.hub import HubError, preflight
from medft.recipes.train import run

TOKEN = "hf_medftTestSecret0123456789abcdef"  # a made-up token: it must end up in no file


class StandInHub(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []  # method, path, authorization, body (parsed)
        self.created: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.user, self.orgs = "tester", ["medft-lab"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> tuple[dict, bytes]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = {
            "method": self.command,
            "path": self.path.split("?")[0],
            "authorization": self.headers.get("Authorization"),
            "raw": raw,
        }
        self.server.requests.append(entry)
        return entry, raw

    def do_GET(self):
        entry, _ = self._record()
        if entry["path"] == "/api/whoami-v2":
            if entry["authorization"] != f"Bearer {TOKEN}":
                return self._reply(401, {"error": "Invalid credentials in Authorization header"})
            return self._reply(
                200,
                {
                    "type": "user",
                    "name": self.server.user,
                    "orgs": [{"name": n} for n in self.server.orgs],
                    "auth": {"type": "access_token", "accessToken": {"role": "write"}},
                },
            )
        self._reply(404, {"error": f"not in the stand-in: GET {entry['path']}"})

    def do_POST(self):
        entry, raw = self._record()
        path = entry["path"]
        if path == "/api/repos/create":
            body = json.loads(raw)
            self.server.created.append(body)
            return self._reply(
                200,
                {
                    "url": f"{self.server.url}/{body['organization']}/{body['name']}",
                    "name": f"{body['organization']}/{body['name']}",
                },
            )
        if path == "/api/validate-yaml":
            return self._reply(200, {"errors": [], "warnings": []})
        if path.startswith("/api/models/") and "/preupload/" in path:
            files = json.loads(raw)["files"]
            return self._reply(
                200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )
        if path.startswith("/api/models/") and "/commit/" in path:
            for line in raw.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    self.server.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            repo_id = path[len("/api/models/") :].split("/commit/")[0]
            return self._reply(
                200, {"commitUrl": f"{self.server.url}/{repo_id}/commit/{'0' * 40}", "commitOid": "0" * 40}
            )
        self._reply(404, {"error": f"not in the stand-in: POST {path}"})


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants as constants

    server = StandInHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # conftest sets HF_HUB_OFFLINE=1 for every test
    yield server
    server.shutdown()
    server.server_close()


class TrainingStart(TrainerCallback):
    def __init__(self, server=None):
        self.started, self.server, self.requests_before = False, server, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = True
        self.requests_before = list(self.server.requests) if self.server else None


def assert_token_in_no_file(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token was written to {path}"


@pytest.fixture
def debug_log(tmp_path):
    """Everything logged at DEBUG (ours, huggingface_hub's, httpx's) into run/train.log, as a run folder has."""
    import logging

    (tmp_path / "run").mkdir()
    handler = logging.FileHandler(tmp_path / "run" / "train.log")
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield tmp_path / "run" / "train.log"
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


def test_push_uploads_adapter_card_and_metrics_privately(tiny_cfg, tmp_path, hub, debug_log):
    start = TrainingStart(hub)
    cfg = tiny_cfg(
        "hub.push=true", "hub.repo_id=medft-lab/tiny-adapter", "retention=general_knowledge", "retention.limit=8"
    )
    metrics = run(cfg, tmp_path / "run", callbacks=[start])
    assert "Pushed" in debug_log.read_text()
    assert [r["path"] for r in start.requests_before] == ["/api/whoami-v2"]  # checked before training began
    assert hub.created == [{"name": "tiny-adapter", "organization": "medft-lab", "visibility": "private"}]
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "README.md",
        "metrics.json",
        "medft_config.yaml",
        "tokenizer.json",
    } <= set(hub.files)
    assert json.loads(hub.files["metrics.json"]) == json.loads((tmp_path / "run" / "metrics.json").read_text())
    card = hub.files["README.md"].decode()
    assert card.startswith("---\n") and "library_name: peft" in card and "Not a medical device" in card
    assert "| test | 12 |" in card and "| retention | 8 |" in card and "peft_method=lora" in card
    assert metrics["paired"]["retention"]["n"] == 8
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)
    paths = [r["path"] for r in hub.requests]
    assert paths[0] == "/api/whoami-v2" and "/api/repos/create" in paths
    assert any(p.endswith("/commit/main") for p in paths)
    receipt = json.loads((tmp_path / "run" / "hub.json").read_text())
    assert receipt["private"] is True and "README.md" in receipt["files"]
    assert_token_in_no_file(tmp_path / "run")
    assert all(TOKEN.encode() not in content for content in hub.files.values())


def test_push_merged_uploads_a_full_model_and_a_finished_run_can_be_pushed_later(tiny_cfg, tmp_path, hub):
    from omegaconf import OmegaConf
    from safetensors.torch import load

    from medft.cli import hub_main as main

    cfg = tiny_cfg(
        "hub.push=true",
        "hub.repo_id=tester/tiny-merged",
        "hub.what=merged",
        "hub.private=false",
        "eval.before=false",
        "eval.after=false",
    )
    run(cfg, tmp_path / "run")
    assert hub.created[0]["visibility"] == "public"
    assert {"model.safetensors", "config.json", "README.md"} <= set(hub.files)
    assert "adapter_config.json" not in hub.files and "library_name: transformers" in hub.files["README.md"].decode()
    merged = load(hub.files["model.safetensors"])
    assert not any("lora" in name for name in merged)  # folded in: loads without peft
    # The same run again, from its folder (as after a failed upload): merged from adapter/ on the base.
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / "run" / ".hydra" / "config.yaml")
    hub.files.clear()
    assert main([str(tmp_path / "run"), "hub.repo_id=medft-lab/again"]) == 0
    assert hub.created[-1] == {"name": "again", "organization": "medft-lab", "visibility": "public"}
    again = load(hub.files["model.safetensors"])
    assert again.keys() == merged.keys()
    assert all((again[k] - merged[k]).abs().max() < 1e-5 for k in merged)  # the same weights either way
    assert main([str(tmp_path / "run"), "training.max_steps=3"]) == 2  # only hub.* applies to a finished run
    assert_token_in_no_file(tmp_path / "run")


def test_the_token_is_masked_in_log_lines(debug_log):
    import logging

    from medft.hub import redacted

    with redacted(TOKEN):
        logging.getLogger("huggingface_hub.test").warning("Authorization: Bearer %s", TOKEN)
    logging.getLogger().handlers[-1].flush()
    text = debug_log.read_text()
    assert "Authorization: Bearer hf_***" in text and TOKEN not in text


def test_offline_preflight_fails_before_any_training_step(tiny_cfg, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    with socket.socket() as probe:  # a port nothing listens on: connection refused, as offline
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = TrainingStart()
    with pytest.raises(HubError, match="nothing was trained") as err:
        run(tiny_cfg("hub.push=true", "hub.repo_id=tester/x"), tmp_path / "run", callbacks=[start])
    assert "hub.push=false" in str(err.value) and TOKEN not in str(err.value)
    assert not start.started and not (tmp_path / "run" / "manifest.json").exists()


def test_hub_offline_mode_and_missing_token_are_named(tiny_cfg, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(HubError, match="HF_TOKEN"):
        preflight(tiny_cfg("hub.push=true", "hub.repo_id=tester/x"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # conftest's HF_HUB_OFFLINE=1 is still in force here
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        preflight(tiny_cfg("hub.push=true", "hub.repo_id=tester/x"))


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["hub.repo_id=no-namespace"], "hub.repo_id=no-namespace"),
        (["hub.repo_id=tester/bad..name"], "hub.repo_id=tester/bad..name"),
        (["hub.repo_id=someone-else/x"], "belongs to 'tester'"),
        (["hub.repo_id=tester/x", "peft_method=full"], "hub.what=merged"),
        (["hub.repo_id=tester/x", "hub.what=merged", "quantization=nf4"], "hub.what=adapter"),
    ],
)
def test_preflight_names_the_override(tiny_cfg, hub, overrides, needle):
    with pytest.raises(HubError) as err:
        preflight(tiny_cfg("hub.push=true", *overrides))
    assert needle in str(err.value)


def test_an_unknown_hub_what_fails_at_compose(tiny_cfg):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="hub.what"):
        tiny_cfg("hub.push=true", "hub.repo_id=tester/x", "hub.what=everything")


def test_preflight_rejects_a_wrong_token(tiny_cfg, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(HubError, match="HfHubHTTPError"):
        preflight(tiny_cfg("hub.push=true", "hub.repo_id=tester/x"))
