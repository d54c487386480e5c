"""The floor plan holds: no import cycle, small modules with distinct names, a torch-free command line,
and every composed config identical to the committed record (tests/fixtures/composed_configs.json)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "fixtures" / "composed_configs.json"
MAX_LINES = 400


def import_graph() -> dict[str, set[str]]:
    """medft's module graph as import-linter sees it: grimp reads every import, function-local ones too."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("medft")
    return {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules for m in graph.modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_medft_counting_function_local_imports():
    graph = import_graph()
    assert len(graph) > 100  # the whole package was read
    assert cycles(graph) == []


def test_modules_are_small_and_their_names_distinct():
    modules = [p for p in (ROOT / "medft").rglob("*.py")]
    too_long = {str(p.relative_to(ROOT)): n for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}
    names = [p.name for p in modules if p.name not in ("__init__.py", "__main__.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_the_command_line_imports_neither_torch_nor_transformers():
    """`medft --help`, a config error or a dry run answer in a second: the heavy libraries load with the model."""
    code = (
        "import sys, medft.cli, medft.api, medft.recipes.train; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def composed_configs() -> dict[str, str]:
    """Every root with its default, each experiment preset and each option of each group, as YAML."""
    from omegaconf import OmegaConf

    from medft.config.compose import CONF_DIR, compose_named, compose_train

    cases = {"train-default": ("train", [])}
    cases.update(
        {
            f"train-experiment-{p.stem}": ("train", [f"experiment={p.stem}"])
            for p in sorted((CONF_DIR / "experiment").glob("*.yaml"))
        }
    )
    for group in (
        "model",
        "dataset",
        "peft_method",
        "quantization",
        "hardware",
        "optimizer",
        "logger",
        "benchmark",
        "objective",
        "retention",
        "task",
    ):
        cases.update(
            {
                f"train-{group}-{p.stem}": ("train", [f"{group}={p.stem}"])
                for p in sorted((CONF_DIR / group).glob("*.yaml"))
            }
        )
    cases.update({"evaluate": ("evaluate", []), "generate": ("generate", []), "export": ("export", ["run_dir=x"])})
    return {
        name: OmegaConf.to_yaml(compose_train(ov) if root == "train" else compose_named(root, ov))
        for name, (root, ov) in cases.items()
    }


def test_composed_configs_match_the_committed_record():
    """A config change is deliberate: regenerate the record with `python tests/test_layout.py --write`."""
    record = json.loads(RECORD.read_text())
    now = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in composed_configs().items()}
    changed = sorted(name for name in set(now) | set(record["sha256"]) if now.get(name) != record["sha256"].get(name))
    assert changed == [], f"composed configs differ from {RECORD.name}: {changed}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    texts = composed_configs()
    RECORD.write_text(
        json.dumps(
            {
                "how": json.loads(RECORD.read_text())["how"] if RECORD.is_file() else "sha256 of each composed config",
                "sha256": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sorted(texts.items())},
                "default": texts["train-default"],
            },
            indent=1,
        )
        + "\n"
    )


def test_no_binary_or_archive_is_tracked():
    """Models, data, wheels and images belong in caches or build outputs, not in git."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    archives = [f for f in files if f.endswith((".whl", ".tar.gz", ".zip", ".tgz", ".gguf", ".safetensors", ".bin"))]
    binary = [f for f in files if (ROOT / f).is_file() and b"\0" in (ROOT / f).read_bytes()[:8192]]
    # The one exception: screenshots a docs page shows (the results browser's), small PNGs under docs/.
    screenshots = [f for f in binary if f.startswith("docs/") and f.endswith(".png")]
    assert all((ROOT / f).stat().st_size < 300_000 for f in screenshots), screenshots
    assert archives == [] and [f for f in binary if f not in screenshots] == []
