"""Credentials: read from the environment only, and never written to a file, a log line or an error.

A secret is an environment variable named in SECRET_ENV or any variable with a name part TOKEN,
API_KEY, PASSWORD or SECRET (OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY). Three guards use this module:

- `refuse_config_secrets(cfg)`: a config key that looks like a credential (`hub.token=...`,
  `logger.api_key=...`) is refused with the environment variable to use instead, so a secret
  never reaches the resolved config Hydra writes (.hydra/config.yaml) or the manifest;
- `install_log_redaction()`: a logging filter on every root handler (the console, the run's
  train.log) that replaces each secret value with `***` in every record, ours or a library's;
- `redact(text)`: the same replacement for text that is not logged (error messages, argv).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse

from medft.config.errors import UserError

# The credentials medft and its libraries read (wandb, huggingface_hub).
SECRET_ENV = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MASK = "***"
FILE_MASK = "REDACTED"  # in YAML files: a bare *** would parse as an alias and break the file
# A config key or variable name holding a credential: the whole name or its last `_` part.
SECRET_NAME = re.compile(
    r"(^|_)(token|api_?key|access_?key|password|passwd|secret|secret_?key|credentials?)$", re.IGNORECASE
)
# A whole `_` part of the variable's name: HF_TOKEN, OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY, but not
# TOKENIZERS_PARALLELISM (whose value "false" would otherwise be masked in every log line).
SECRET_ENV_NAME = re.compile(r"(^|_)(TOKEN|API_?KEY|PASSWORD|PASSWD|SECRET)(_|$)", re.IGNORECASE)
# Tokenizer special tokens are text such as "<pad>", not credentials.
NOT_SECRETS = frozenset({"pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"})
MIN_SECRET_CHARS = 6  # shorter values ("1", "true") would mask ordinary words in every log line

ENV_FOR = {"hub": "HF_TOKEN", "logger": "WANDB_API_KEY"}  # the variable a refused key should come from
# Credentials inside a URL (https://user:token@host, https://token@host): the userinfo part.
URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@'\"]+)@")


def has_url_credentials(text: str) -> bool:
    return bool(URL_CREDENTIALS.search(text))


def strip_url_credentials(text: str, mask: str = "") -> str:
    """The URLs in `text` without their userinfo (`mask@` in its place when mask is given)."""
    return URL_CREDENTIALS.sub(lambda m: m["scheme"] + (f"{mask}@" if mask else ""), text)


def is_secret_key(name: str) -> bool:
    return name.lower() not in NOT_SECRETS and bool(SECRET_NAME.search(name))


def secret_values(environ=None) -> list[str]:
    """The values of the secrets set in the environment, longest first (a value inside another is
    masked by the longer one first)."""
    environ = os.environ if environ is None else environ
    names = set(SECRET_ENV) | {n for n in environ if SECRET_ENV_NAME.search(n)}
    values = {environ[n].strip() for n in names if n in environ and len(environ[n].strip()) >= MIN_SECRET_CHARS}
    return sorted(values, key=len, reverse=True)


def encodings(value: str) -> list[str]:
    """The forms a secret takes in text: itself, URL-quoted, and base64, alone and as the HTTP Basic
    `api:<key>` pair wandb sends."""
    import base64

    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(f"api:{value}".encode()).decode(),
    }
    return sorted(forms, key=len, reverse=True)


def redact(text: str, values: list[str] | None = None, mask: str = MASK) -> str:
    """`text` with every secret value (in every encoding) and every URL's credentials masked."""
    for value in secret_values() if values is None else values:
        for form in encodings(value):
            text = text.replace(form, mask)
    return strip_url_credentials(text, mask)


def config_secrets(cfg) -> list[tuple[str, str]]:
    """(dotted key, value) of every literal string under a secret-looking key of a config tree.
    An interpolation (`${oc.env:HF_TOKEN}`) is not a literal: Hydra writes it as written."""
    from omegaconf import OmegaConf

    def walk(node, prefix: str):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict, list)):
                yield from walk(value, dotted)
            elif (
                is_secret_key(str(key)) and isinstance(value, str) and value.strip() and not value.startswith("${")
            ) or (isinstance(value, str) and has_url_credentials(value)):
                yield dotted, value

    return list(walk(OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False), ""))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def secret_overrides(args: list[str]) -> list[str]:
    """The keys of command-line overrides (`key=value`, `+key=`, `++key=`) that look like credentials,
    and those whose value is a URL with credentials in it. A boolean, null or short number is a
    setting (`arch.experts_per_token=2`), not a credential; a long number under such a key is not."""
    keys = []
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if not sep or key.startswith("-"):
            continue
        literal = value.strip().lower() in ("", "null", "none", "true", "false") or (
            _is_number(value) and len(value.strip()) < MIN_SECRET_CHARS
        )
        if (not literal and is_secret_key(key.split(".")[-1])) or has_url_credentials(value):
            keys.append(key)
    return keys


def _refusal(found: list[tuple[str, str]]):
    keys = [key for key, _ in found]
    env = sorted({ENV_FOR.get(k.split(".")[0], "the environment variable the tool that needs it reads") for k in keys})
    urls = [f"{key}={strip_url_credentials(value)}" for key, value in found if has_url_credentials(value)]
    fix = f"give the URL without them ({' '.join(urls)}) and " if urls else "remove it and "
    return UserError(
        f"{', '.join(keys)}: a credential was given as a config value{' (inside a URL)' if urls else ''}; "
        f"medft reads credentials from the environment only, so they never land in .hydra/, the manifest "
        f"or the logs: {fix}export {' / '.join(env)} instead (the value was not logged)"
    )


def refuse_secret_overrides(args: list[str]) -> None:
    """Before Hydra sees the command line (it copies overrides into .hydra/overrides.yaml)."""
    keys = set(secret_overrides(args))
    found = [
        (key.lstrip("+~"), value) for key, _, value in (arg.partition("=") for arg in args) if key.lstrip("+~") in keys
    ]
    if found:
        raise _refusal(found)


def refuse_config_secrets(cfg) -> None:
    """A credential given as a config value (a config file, the API) is refused, naming the variable."""
    found = config_secrets(cfg)
    if found:
        raise _refusal(found)


def scrub_files(paths, values: list[str]) -> None:
    """Replace `values` in files already written (Hydra writes .hydra/*.yaml before the job starts)."""
    from pathlib import Path

    for path in map(Path, paths):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        cleaned = redact(text, values, FILE_MASK)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")


class RedactSecrets(logging.Filter):
    """Masks every secret of the environment (read per record: a token exported mid-run counts)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = secret_values()
        message = record.getMessage()
        if not values and not has_url_credentials(message) and not record.exc_info:
            return True
        cleaned = redact(message, values)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:  # a traceback repeats the error's message
            import traceback

            trace = "".join(traceback.format_exception(*record.exc_info))
            if redact(trace, values) != trace:
                record.msg, record.args = f"{record.msg}\n{redact(trace, values)}", ()
                record.exc_info, record.exc_text = None, None
        return True


def install_log_redaction() -> RedactSecrets:
    """Add the filter to every handler of the root logger (idempotent); returns the filter."""
    redact_filter = RedactSecrets()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(redact_filter)
    return redact_filter
