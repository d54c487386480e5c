"""Sharing a run on the Hugging Face Hub (`hub.push=true hub.repo_id=<namespace>/<name>`).

`preflight(cfg)` runs in prepare(), before any model loads: the token (HF_TOKEN, from the
environment only), the endpoint (reachable within hub.timeout_s), the repo id and the token's
right to write there are all checked, so an offline machine fails in seconds, not after training.
`push_run(...)` runs after metrics.json is written: it stages the adapter (or the merged or full
model), a model card and metrics.json in a temporary folder and uploads them with
huggingface_hub (create_repo with the private flag, then upload_folder). The token is never
written to a file or a log line: a logging filter masks it for the duration of both calls.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.errors import UserError
from medft.hub.card import model_card
from medft.runtime.files import atomic_write_json

log = logging.getLogger(__name__)

TOKEN_ENV = "HF_TOKEN"
RECEIPT_FILE = "hub.json"  # what was pushed where (no secret in it)


class HubError(UserError, RuntimeError):
    """Sharing cannot work as configured; the message says what to set or unset."""


class _Redact(logging.Filter):
    """Replaces the token in every record a handler emits (ours, huggingface_hub's, httpx's)."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "hf_***"), ()
        return True


@contextlib.contextmanager
def redacted(secret: str):
    handlers = [h for h in logging.getLogger().handlers]
    redact = _Redact(secret)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)


def endpoint(hub_cfg) -> str | None:
    """hub.endpoint, else HF_ENDPOINT read now (huggingface_hub reads it once, at import), else the hub's."""
    return hub_cfg.endpoint or os.environ.get("HF_ENDPOINT") or None


def token() -> str:
    value = os.environ.get(TOKEN_ENV, "").strip()
    if not value:
        raise HubError(
            f"hub.push=true needs a write token in the {TOKEN_ENV} environment variable (it is read from "
            f"the environment only, never from the config): export {TOKEN_ENV}=hf_... or set hub.push=false"
        )
    return value


def check_settings(cfg) -> None:
    """What needs no network: the repo id's form and what is pushed."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    hub = cfg.hub
    if not hub.repo_id or "/" not in hub.repo_id:
        raise HubError(
            f"hub.repo_id={hub.repo_id}: give <your user or organisation>/<repo name>, "
            "e.g. hub.repo_id=alice/smollm2-medical-lora"
        )
    try:
        validate_repo_id(hub.repo_id)
    except HFValidationError as err:
        raise HubError(f"hub.repo_id={hub.repo_id}: {err}") from None
    if hub.what == "adapter" and cfg.peft_method.method in FULL_WEIGHT_METHODS:
        raise HubError(
            f"hub.what=adapter: peft_method={cfg.peft_method.method} trains the model's own weights, so "
            "there is no adapter; use hub.what=merged to push the whole model"
        )
    if hub.what == "merged" and cfg.quantization.method != "none":
        raise HubError(
            f"hub.what=merged with quantization={cfg.quantization.method}: merging into quantized weights "
            "rounds the update away; push hub.what=adapter (load it on the base model)"
        )


def preflight(cfg) -> dict:
    """Fail before training if the push cannot work; return whoami's answer (user name, orgs)."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    from huggingface_hub import HfApi, constants

    check_settings(cfg)
    secret = token()
    if constants.is_offline_mode():
        raise HubError(
            "hub.push=true but HF_HUB_OFFLINE=1 is set, so nothing can be uploaded: unset HF_HUB_OFFLINE "
            "or set hub.push=false"
        )
    api = HfApi(endpoint=endpoint(cfg.hub), token=secret)
    where = api.endpoint
    # huggingface_hub's client waits without a timeout; a thread bounds the wait (a blackholed
    # network would otherwise hang the run before it starts).
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with redacted(secret):
            me = pool.submit(api.whoami).result(timeout=cfg.hub.timeout_s)
    except FutureTimeout:
        raise HubError(
            f"hub.push=true: no answer from {where} within hub.timeout_s={cfg.hub.timeout_s} s (offline?). "
            "Connect, raise hub.timeout_s, or set hub.push=false; nothing was trained"
        ) from None
    except Exception as err:  # connection refused, DNS, 401: all stop the run here
        detail = str(err).replace(secret, "hf_***").splitlines()[0] if str(err) else ""
        raise HubError(
            f"hub.push=true: cannot use {where} with the {TOKEN_ENV} token ({type(err).__name__}: "
            f"{detail}). Check the network and the token, or set hub.push=false; nothing was trained"
        ) from None
    finally:
        pool.shutdown(wait=False)
    namespace = cfg.hub.repo_id.split("/")[0]
    allowed = {me.get("name")} | {org.get("name") for org in me.get("orgs", [])}
    if namespace not in allowed:
        raise HubError(
            f"hub.repo_id={cfg.hub.repo_id}: the {TOKEN_ENV} token belongs to {me.get('name')!r} "
            f"(organisations: {sorted(n for n in allowed - {me.get('name')} if n)}); use one of those as "
            "the namespace"
        )
    role = (me.get("auth", {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise HubError(f"hub.push=true: the {TOKEN_ENV} token is read-only; create a write token")
    log.info(
        "Hub preflight: %s as %s can push to %s (private=%s, what=%s)",
        where,
        me.get("name"),
        cfg.hub.repo_id,
        cfg.hub.private,
        cfg.hub.what,
    )
    return me


def stage(cfg, run_dir: Path, model, tokenizer, metrics: dict, folder: Path) -> list[str]:
    """Write what is uploaded into `folder`: the weights, README.md, metrics.json, medft_config.yaml."""
    import json
    import shutil

    from omegaconf import OmegaConf

    if cfg.hub.what == "adapter":
        shutil.copytree(run_dir / "adapter", folder, dirs_exist_ok=True)
    elif cfg.peft_method.method in FULL_WEIGHT_METHODS:
        shutil.copytree(run_dir / "model", folder, dirs_exist_ok=True)
    else:  # the adapter folded into the base weights (same function, loads without peft)
        merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        merged.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    manifest_file = run_dir / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    (folder / "README.md").write_text(model_card(cfg, metrics, manifest, cfg.hub.what), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (folder / "medft_config.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def push_run(cfg, run_dir: Path, model, tokenizer, metrics: dict) -> dict:
    """Upload the run; write hub.json (repo, commit, files) into the run folder and return it."""
    import tempfile

    from huggingface_hub import HfApi

    secret = token()
    api = HfApi(endpoint=endpoint(cfg.hub), token=secret)
    with tempfile.TemporaryDirectory(prefix="medft-hub-") as tmp, redacted(secret):
        files = stage(cfg, Path(run_dir), model, tokenizer, metrics, Path(tmp))
        try:
            repo = api.create_repo(cfg.hub.repo_id, private=cfg.hub.private, exist_ok=True)
            commit = api.upload_folder(
                repo_id=cfg.hub.repo_id,
                folder_path=tmp,
                commit_message=cfg.hub.commit_message or f"medft run {Path(run_dir).name}",
            )
        except Exception as err:
            detail = str(err).replace(secret, "hf_***").splitlines()[0] if str(err) else ""
            raise HubError(
                f"hub.push: the run finished (its folder is complete) but the upload to {cfg.hub.repo_id} "
                f"failed ({type(err).__name__}: {detail})"
            ) from None
    receipt = {
        "repo_id": cfg.hub.repo_id,
        "url": str(repo),
        "private": cfg.hub.private,
        "what": cfg.hub.what,
        "commit_url": getattr(commit, "commit_url", str(commit)),
        "files": files,
    }
    atomic_write_json(Path(run_dir) / RECEIPT_FILE, receipt)
    log.info("Pushed %d files to %s (%s)", len(files), receipt["url"], "private" if cfg.hub.private else "public")
    return receipt
