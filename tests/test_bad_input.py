"""Bad input is refused with the file, line or key and the fix: every loader under a fuzzer,
the named faults one by one (encodings, empty files, duplicate ids, labels, options, lengths),
and paths that would send output outside the folder the user chose."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medft.benchmarks.registry import load_benchmark
from medft.config.errors import UserError
from medft.data.cmeee import load_cmeee
from medft.data.huatuo import load_huatuo
from medft.data.jsonl import load_jsonl
from medft.data.mimic import read_notes
from medft.data.preference import load_preference_jsonl
from medft.data.text import load_text

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[1]
MIMIC_HEADER = '"ROW_ID","SUBJECT_ID","HADM_ID","CHARTDATE","CHARTTIME","STORETIME","CATEGORY","DESCRIPTION","CGID","ISERROR","TEXT"\n'

# --- the fuzzer -----------------------------------------------------------------------------

# One valid record per JSON format: the fuzzer drops keys from it and swaps values for any JSON.
VALID = {
    "jsonl": {"question": "q", "options": ["a", "b"], "answer": "A", "id": 1},
    "preference": {"prompt": "p", "chosen": "c", "rejected": "r"},
    "huatuo": {"id": 1, "question": "q", "answer": "a"},
    "cmeee": {"text": "患儿腹泻两天", "entities": [{"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "腹泻"}]},
    "medqa": {
        "question": "q",
        "options": {"A": "a", "B": "b", "C": "c", "D": "d"},
        "answer": "a",
        "answer_idx": "A",
        "meta_info": "step1",
    },
    "medmcqa": {
        "question": "q",
        "exp": None,
        "cop": 1,
        "opa": "a",
        "opb": "b",
        "opc": "c",
        "opd": "d",
        "subject_name": "s",
        "topic_name": None,
        "id": "x1",
        "choice_type": "single",
    },
    "pubmedqa": {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes", "LONG_ANSWER": "l"},
}
# (loader, file suffix, layout): how each loader is called on one generated file.
LOADERS = {
    "jsonl": (load_jsonl, ".jsonl", "lines"),
    "preference": (load_preference_jsonl, ".jsonl", "lines"),
    "huatuo": (lambda p: load_huatuo(str(p)), ".jsonl", "lines"),
    "cmeee": (lambda p: load_cmeee(str(p)), ".json", "array"),
    "medqa": (lambda p: load_benchmark("medqa", str(p), "all"), "_test.jsonl", "lines"),
    "medmcqa": (lambda p: load_benchmark("medmcqa", str(p), "all"), "dev.json", "lines"),
    "pubmedqa": (lambda p: load_benchmark("pubmedqa", str(p), "all"), "ori_pqal.json", "by_id"),
}
CSV_LOADERS = {  # (loader, file suffix, header line)
    "mimic": (read_notes, ".csv", MIMIC_HEADER),
    "mmlu": (lambda p: load_benchmark("mmlu_medical", str(p), "all"), "anatomy_test.csv", ""),
    "medquad": (lambda p: load_benchmark("medquad", str(p), "all"), ".csv", "question,answer,source,focus_area\n"),
    "text": (load_text, ".txt", ""),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw, valid: dict):
    """`valid` with some keys dropped and some values replaced by arbitrary JSON, or any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    record = dict(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=3)):
        record.pop(key, None)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=3)):
        record[key] = draw(json_values)
    return record


@st.composite
def corrupted(draw, text: str) -> bytes:
    """The file's bytes, sometimes cut short and sometimes with bytes that are not UTF-8."""
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\xff\xfe", b"\x00"])) + data[at:]
    return data


@st.composite
def json_file(draw, kind: str) -> bytes:
    records = draw(st.lists(mutated(VALID[kind]), min_size=0, max_size=4))
    layout = LOADERS[kind][2]
    if layout == "lines":
        text = "\n".join(json.dumps(r) for r in records)
    elif layout == "array":
        text = json.dumps(records)
    else:  # by_id: PubMedQA's {"<pmid>": record}, ids drawn so they may repeat in the text
        ids = draw(st.lists(st.sampled_from(["1", "2", "3"]), min_size=len(records), max_size=len(records)))
        text = "{" + ", ".join(f'"{i}": {json.dumps(r)}' for i, r in zip(ids, records)) + "}"
    return draw(corrupted(text))


csv_cells = st.text(alphabet=st.sampled_from('ab,"\n\r é1-'), max_size=30)


def _assert_clear_error_or_records(loader, path: Path) -> None:
    try:
        loader(path)
    except UserError as err:  # the project's error: it names the file
        assert str(path.name) in str(err) or "dataset.path" in str(err), str(err)


# Derandomized: the same 100 files per loader on every machine (found the MedQA answer_idx TypeError).
FUZZ = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_fuzzed_json_records_get_a_clear_error_or_load(kind):
    loader, suffix, _ = LOADERS[kind]
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{kind}-"))

    @FUZZ
    @given(data=json_file(kind))
    def check(data):
        path = folder / f"in{suffix}"
        path.write_bytes(data)
        _assert_clear_error_or_records(loader, path)  # any other exception fails the test

    try:
        check()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("kind", sorted(CSV_LOADERS))
def test_fuzzed_csv_and_text_files_get_a_clear_error_or_load(kind):
    loader, suffix, header = CSV_LOADERS[kind]
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{kind}-"))

    @FUZZ
    @given(body=csv_cells, header_kept=st.booleans(), cut=st.data())
    def check(body, header_kept, cut):
        path = folder / f"in{suffix}"
        path.write_bytes(cut.draw(corrupted((header if header_kept else "") + body)))
        _assert_clear_error_or_records(loader, path)

    try:
        check()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the named faults -----------------------------------------------------------------------


def _lines(*objs) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


USER_FILES = {  # loader, file name, valid lines (the line after them gets the bad byte)
    "jsonl": (load_jsonl, "d.jsonl", _lines({"prompt": "a", "response": "b"}, {"prompt": "c", "response": "d"})),
    "preference": (load_preference_jsonl, "p.jsonl", _lines(*[VALID["preference"]] * 2)),
    "huatuo": (
        lambda p: load_huatuo(str(p)),
        "h.jsonl",
        _lines({"id": 1, "question": "q", "answer": "a"}, {"id": 2, "question": "q2", "answer": "a2"}),
    ),
    "text": (load_text, "notes.txt", "first note\n\nsecond note\n"),
    "mimic": (read_notes, "NOTEEVENTS.csv", MIMIC_HEADER + '1,7,3,,,,"Discharge summary","R",,,"ok"\n'),
    "cmeee": (lambda p: load_cmeee(str(p)), "c.json", "[\n" + json.dumps(VALID["cmeee"], ensure_ascii=False) + ",\n"),
}


@pytest.mark.parametrize("kind", sorted(USER_FILES))
def test_a_file_that_is_not_utf8_is_named_with_its_line_and_byte_offset(tmp_path, kind):
    loader, name, good = USER_FILES[kind]
    path = tmp_path / name
    bad = "caf\u00e9 au lait".encode("latin-1")  # a Latin-1 export: 0xe9 is not UTF-8 here
    path.write_bytes(good.encode() + bad + b"\n")
    with pytest.raises(UserError) as err:
        loader(path)
    offset, line = len(good.encode()) + 3, good.count("\n") + 1
    assert f"{path}:{line}:" in str(err.value) and f"offset {offset}" in str(err.value) and "iconv" in str(err.value)


@pytest.mark.parametrize("kind", sorted(USER_FILES))
def test_an_empty_file_is_refused_by_name(tmp_path, kind):
    loader, name, _ = USER_FILES[kind]
    path = tmp_path / name
    path.write_text("" if kind != "mimic" else MIMIC_HEADER)
    with pytest.raises(UserError) as err:
        loader(path)
    assert str(path) in str(err.value)


def test_duplicate_ids_in_a_user_file_name_both_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        _lines(
            {"id": "a", "prompt": "p", "response": "r"},
            {"id": "b", "prompt": "p2", "response": "r"},
            {"id": "a", "prompt": "p3", "response": "r"},
        )
    )
    with pytest.raises(UserError, match=r"d.jsonl:3: 'id' repeats the id of line 1"):
        load_jsonl(path)


def test_duplicate_ids_in_benchmarks_are_refused(tmp_path):
    row = dict(VALID["medmcqa"])
    (tmp_path / "dev.json").write_text(_lines(row, {**row, "question": "other"}))
    with pytest.raises(UserError, match=r"dev.json:2: its id repeats the id at .*dev.json:1") as err:
        load_benchmark("medmcqa", str(tmp_path / "dev.json"), "all")
    assert "x1" not in str(err.value)  # ids are not quoted: they can be record numbers
    record = json.dumps(VALID["pubmedqa"])
    (tmp_path / "ori_pqal.json").write_text(f'{{"1": {record}, "1": {record}}}')
    with pytest.raises(UserError, match="duplicate"):
        load_benchmark("pubmedqa", str(tmp_path / "ori_pqal.json"), "all")


@pytest.mark.parametrize(
    ("kind", "name", "record", "needle"),
    [
        ("pubmedqa", "ori_pqal.json", {"1": {**VALID["pubmedqa"], "final_decision": "perhaps"}}, "final_decision"),
        ("medmcqa", "dev.json", {**VALID["medmcqa"], "cop": 7}, "cop"),
        ("medqa", "x_test.jsonl", {**VALID["medqa"], "answer_idx": "E"}, "answer_idx"),
    ],
)
def test_a_label_outside_the_label_set_is_refused(tmp_path, kind, name, record, needle):
    path = tmp_path / name
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(UserError, match=needle) as err:
        load_benchmark(kind, str(path), "all")
    assert str(path) in str(err.value)


def test_a_user_answer_outside_the_options_and_missing_options_are_refused(tmp_path):
    path = tmp_path / "mc.jsonl"
    path.write_text(_lines({"question": "q", "options": ["a", "b"], "answer": "C"}))
    with pytest.raises(
        UserError,
        match=r"mc.jsonl:1: 'answer' \(a string of 1 character\) is not one of the "
        r"record's options \(2 options\)",
    ):
        load_jsonl(path)
    path.write_text(_lines({"question": "q", "options": ["only one"], "answer": 0}))
    with pytest.raises(UserError, match=r"mc.jsonl:1: 'options' holds 1 option; give 2 to 10"):
        load_jsonl(path)
    medqa = tmp_path / "m_test.jsonl"
    medqa.write_text(_lines({**VALID["medqa"], "options": {"A": "a", "B": "b"}}))
    with pytest.raises(UserError, match="too few options"):
        load_benchmark("medqa", str(medqa), "all")


def test_an_absurdly_long_record_is_refused_with_its_line_and_the_cap(tmp_path, compose):
    from medft.data.load import load_splits

    path = tmp_path / "long.jsonl"
    rows = [{"prompt": f"q{i}", "response": "short"} for i in range(20)]
    rows[7]["response"] = "x" * 5000  # e.g. a lost newline merged many records into one
    path.write_text(_lines(*rows))
    cfg = compose(["dataset=jsonl", f"dataset.path={path}", "dataset.max_record_chars=4000"])
    with pytest.raises(UserError) as err:
        load_splits(cfg.dataset)
    assert f"{path}:8" in str(err.value) and "dataset.max_record_chars=4000" in str(err.value)
    cfg = compose(["dataset=jsonl", f"dataset.path={path}", "dataset.max_record_chars=10000"])
    assert sum(map(len, load_splits(cfg.dataset).values())) == 20


# --- where output goes ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "/abs", "..", "a\\b", "tab\tname"])
def test_a_run_name_that_leaves_the_output_root_is_refused(tmp_path, name):
    from medft.run.folders import resolve_eval_dir, resolve_run_dir
    from medft.runtime.paths import UnsafePathError

    with pytest.raises(UnsafePathError, match="must be one folder name"):
        resolve_run_dir(str(tmp_path), name, False, "now")
    with pytest.raises(UnsafePathError, match="must be one folder name"):
        resolve_eval_dir(None, str(tmp_path), name, "now")


def test_a_link_under_the_output_root_that_points_elsewhere_is_refused(tmp_path):
    from medft.run.folders import resolve_run_dir
    from medft.runtime.paths import UnsafePathError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "exp").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        resolve_run_dir(str(tmp_path / "outputs"), "exp", False, "now")
    assert resolve_run_dir(str(tmp_path / "outputs"), "fine", False, "now").endswith("fine/now")


def test_the_sweep_folder_name_is_checked_too():
    from omegaconf import OmegaConf

    from medft.runtime.paths import UnsafePathError
    from medft.sweep.sweeper import sweep_dir_of

    config = OmegaConf.create(
        {"output_root": "outputs", "name": "../up", "hydra": {"overrides": {"hydra": [], "task": ["seed=1,2"]}}}
    )
    with pytest.raises(UnsafePathError, match="name='../up'"):
        sweep_dir_of(config)


def test_benchmark_item_files_stay_in_their_folder(tmp_path):
    from medft.evaluation.benchmark_suite import _write_items
    from medft.runtime.paths import UnsafePathError

    with pytest.raises(UnsafePathError):
        _write_items(tmp_path / "benchmarks", "../../items", [{"id": 1}])
    _write_items(tmp_path / "benchmarks", "before_pubmedqa", [{"id": 1}])
    assert [p.name for p in (tmp_path / "benchmarks").iterdir()] == ["before_pubmedqa.jsonl"]
    assert not (tmp_path.parent / "items.jsonl").exists()


def test_train_py_refuses_a_name_with_dots_without_a_trace_and_writes_nothing(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "model=tiny-random",
            "dry_run=true",
            "name=../../escaped",
            f"output_root={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert "name='../../escaped': must be one folder name" in out and "Traceback" not in out
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # not even the output root was made


@pytest.fixture
def run_copy(trained_tiny_run, tmp_path):
    """A private copy of the shared tiny run (tests here add links and delete files in it)."""
    copy = tmp_path / "run"
    shutil.copytree(trained_tiny_run, copy, symlinks=True)
    return copy


def test_an_export_default_folder_that_links_outside_the_run_is_refused(run_copy, tmp_path):
    from medft.config.compose import compose_named
    from medft.recipes.export import run
    from medft.runtime.paths import UnsafePathError

    (tmp_path / "elsewhere").mkdir()
    shutil.rmtree(run_copy / "exports", ignore_errors=True)
    (run_copy / "exports").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="outside"):
        run(compose_named("export", [f"run_dir={run_copy}"]))
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_an_explicit_export_out_that_is_a_link_is_refused(run_copy, tmp_path):
    from medft.config.compose import compose_named
    from medft.recipes.export import run
    from medft.runtime.paths import UnsafePathError

    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        run(compose_named("export", [f"run_dir={run_copy}", f"out={tmp_path / 'link'}"]))
    assert list((tmp_path / "target").iterdir()) == []


# --- weights and trainer state --------------------------------------------------------------


def test_pickled_weights_alone_are_refused_and_safetensors_pass(tmp_path):
    from conftest import tiny_llama

    from medft.models.weights import UnsafeWeightsError, require_safetensors
    from medft.run.saved_model import load_adapters

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04not really a pickle")
    model, _ = tiny_llama()
    with pytest.raises(UnsafeWeightsError, match=r"adapter_model.bin.*safetensors only"):
        load_adapters(model, {"a": adapter})
    from safetensors.numpy import save_file

    save_file({"w": __import__("numpy").zeros(2)}, str(adapter / "adapter_model.safetensors"))
    require_safetensors(adapter, "adapter")  # a safetensors file next to it: accepted
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    for name in ("optimizer.pt", "rng_state.pth", "training_args.bin"):
        (checkpoint / name).write_bytes(b"")
    save_file({"w": __import__("numpy").zeros(2)}, str(checkpoint / "model.safetensors"))
    require_safetensors(checkpoint, "resume")  # trainer state is not weights


def test_every_model_config_keeps_trust_remote_code_off():
    import yaml

    for path in sorted((ROOT / "conf" / "model").glob("*.yaml")):
        assert yaml.safe_load(path.read_text()).get("trust_remote_code", False) is False, path


def test_a_checkpoint_from_outside_medft_is_not_unpickled_unless_allowed(trained_tiny_run, tmp_path, tiny_cfg):
    from medft.recipes.train import run
    from medft.run.folders import checkpoints
    from medft.run.trust import ForeignCheckpointError

    foreign = tmp_path / "downloaded"
    shutil.copytree(trained_tiny_run, foreign)
    (foreign / "manifest.json").unlink()  # no medft manifest: someone else's folder
    (foreign / "metrics.json").unlink()
    checkpoint = checkpoints(foreign)[-1]
    overrides = (
        "optimizer.lr=1e-2",
        "eval.before=false",
        "eval.after=false",
        "eval.validation=false",
        f"resume={checkpoint}",
    )
    with pytest.raises(ForeignCheckpointError, match="resume_allow_foreign_pickle=true"):
        run(tiny_cfg(*overrides), foreign)
    assert not (foreign / "manifest.json").exists()  # refused before anything was written
    metrics = run(tiny_cfg(*overrides, "resume_allow_foreign_pickle=true"), foreign)
    assert metrics["train"]["resumed_from"] == str(checkpoint)
