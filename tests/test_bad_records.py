"""Bad records, files and interruptions (issue "Runs you can trust", points 15, 18, 19, 20): each is
refused with one line naming the file, line or key and the fix, never quoting patient text, never
with a traceback; and the MIMIC notes loader reads only what it needs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medft.benchmarks.registry import load_benchmark
from medft.config.errors import UserError
from medft.data.cmeee import load_cmeee
from medft.data.huatuo import load_huatuo
from medft.data.jsonl import load_jsonl
from medft.data.mimic import read_notes
from medft.data.preference import load_preference_jsonl

ROOT = Path(__file__).resolve().parents[1]
PHI = "Jane Doe DOB 01/02/1960"
MRN = "MRN-88341234"
MRN_NUMBER = 88341234
MIMIC_HEADER = '"ROW_ID","SUBJECT_ID","HADM_ID","CHARTDATE","CHARTTIME","STORETIME","CATEGORY","DESCRIPTION","CGID","ISERROR","TEXT"\n'


def _lines(*objs) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def _refused(loader, path: Path) -> str:
    with pytest.raises(UserError) as err:
        loader(path)
    return str(err.value)


# --- 15: errors name the file, line and field, never the value --------------------------------

MC = {"question": "q", "options": ["a", "b"], "answer": "A"}
MEDQA = {"question": "q", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer": "b", "answer_idx": "B"}
MEDMCQA = {"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 1, "id": "x1"}
PQAL = {"QUESTION": "q", "CONTEXTS": ["c"], "final_decision": "yes"}
CMEEE = {"text": "患儿腹泻两天", "entities": [{"start_idx": 2, "end_idx": 3, "type": "sym", "entity": "腹泻"}]}


def _jsonl(p):
    return load_jsonl(p)


def _bench(kind):
    return lambda p: load_benchmark(kind, str(p), "all")


# (loader, file name, content, where the error must point): each content holds PHI-like values.
PHI_CASES = {
    "jsonl answer not an option": (_jsonl, "d.jsonl", _lines(MC, {**MC, "answer": PHI}), "d.jsonl:2:"),
    "jsonl duplicate text id": (_jsonl, "d.jsonl", _lines({**MC, "id": MRN}, {**MC, "id": MRN}), "d.jsonl:2:"),
    "jsonl duplicate number id": (
        _jsonl,
        "d.jsonl",
        _lines({**MC, "id": MRN_NUMBER}, {**MC, "id": MRN_NUMBER}),
        "d.jsonl:2:",
    ),
    "jsonl answer index out of range": (_jsonl, "d.jsonl", _lines({**MC, "answer": MRN_NUMBER}), "d.jsonl:1:"),
    "jsonl options twice": (_jsonl, "d.jsonl", _lines({**MC, "options": [PHI, PHI], "answer": 0}), "d.jsonl:1:"),
    "preference duplicate id": (
        load_preference_jsonl,
        "p.jsonl",
        _lines(*[{"prompt": "p", "chosen": "c", "rejected": "r", "id": MRN}] * 2),
        "p.jsonl:2:",
    ),
    "medqa answer text": (_bench("medqa"), "m_test.jsonl", _lines({**MEDQA, "answer": PHI}), "m_test.jsonl:1:"),
    "medqa answer_idx": (_bench("medqa"), "m_test.jsonl", _lines({**MEDQA, "answer_idx": PHI}), "m_test.jsonl:1:"),
    "medqa question": (_bench("medqa"), "m_test.jsonl", _lines({**MEDQA, "question": [PHI]}), "m_test.jsonl:1:"),
    "medmcqa duplicate id": (
        _bench("medmcqa"),
        "dev.json",
        _lines({**MEDMCQA, "id": MRN}, {**MEDMCQA, "id": MRN}),
        "dev.json:2:",
    ),
    "medmcqa cop": (_bench("medmcqa"), "dev.json", _lines({**MEDMCQA, "cop": PHI}), "dev.json:1:"),
    "medmcqa question": (_bench("medmcqa"), "dev.json", _lines({**MEDMCQA, "question": {"name": PHI}}), "dev.json:1:"),
    "pubmedqa decision": (
        _bench("pubmedqa"),
        "ori_pqal.json",
        json.dumps({"1": {**PQAL, "final_decision": PHI}}),
        "ori_pqal.json: record 1",
    ),
    "pubmedqa duplicate key": (
        _bench("pubmedqa"),
        "ori_pqal.json",
        f'{{"{MRN}": {json.dumps(PQAL)}, "{MRN}": {json.dumps(PQAL)}}}',
        "ori_pqal.json: key 2",
    ),
    "pubmedqa question": (
        _bench("pubmedqa"),
        "ori_pqal.json",
        json.dumps({MRN: {**PQAL, "QUESTION": [PHI]}}),
        "ori_pqal.json: record 1",
    ),
    "mimic without a header": (
        read_notes,
        "NOTEEVENTS.csv",
        f'1,7,3,,,,"Discharge summary","R",,,"{PHI}"\n',
        "NOTEEVENTS.csv:1:",
    ),
    "medquad without a header": (
        _bench("medquad"),
        "medquad.csv",
        f'information,"{PHI}","answer",src,focus\n',
        "medquad.csv:1",
    ),
    "mmlu answer": (_bench("mmlu_medical"), "anatomy_test.csv", f'q,a,b,c,d,"{PHI}"\n', "anatomy_test.csv:1:"),
    "cmeee entity": (
        lambda p: load_cmeee(str(p)),
        "c.json",
        json.dumps([{"text": PHI, "entities": [{**CMEEE["entities"][0], "entity": "Jane Doe"}]}]),
        "c.json[0]",
    ),
    "cmeee type": (
        lambda p: load_cmeee(str(p)),
        "c.json",
        json.dumps([{**CMEEE, "entities": [{**CMEEE["entities"][0], "type": PHI}]}]),
        "c.json[0]",
    ),
}


@pytest.mark.faults
@pytest.mark.parametrize("case", sorted(PHI_CASES))
def test_loader_errors_name_file_and_line_but_never_quote_the_record(tmp_path, caplog, case):
    loader, name, content, where = PHI_CASES[case]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.DEBUG):
        message = _refused(loader, path)
    assert where in message, message
    for value in (PHI, "Jane Doe", "01/02/1960", MRN, str(MRN_NUMBER)):
        assert value not in message and value not in caplog.text, (value, message)


@pytest.mark.faults
def test_a_record_length_error_places_a_file_record_by_line_not_by_its_id(tmp_path):
    from omegaconf import OmegaConf

    from medft.data.load import check_lengths

    path = tmp_path / "h.jsonl"
    path.write_text(_lines({"id": MRN, "question": "q", "answer": "x" * 500}), encoding="utf-8")
    splits = load_huatuo(str(path))
    cfg = OmegaConf.create({"name": "huatuo", "path": str(path), "max_record_chars": 100})
    with pytest.raises(UserError) as err:
        check_lengths(splits, cfg)
    assert f"{path}:1" in str(err.value) and MRN not in str(err.value)


# --- 18: the JSONL loader never turns a value into "None" or a Python repr ---------------------


def _one(tmp_path, obj):
    path = tmp_path / "d.jsonl"
    path.write_text(_lines(obj), encoding="utf-8")
    return path


def _chat(*contents):
    roles = ["user", "assistant"] * len(contents)
    return {"messages": [{"role": r, "content": c} for r, c in zip(roles, contents)]}


@pytest.mark.faults
@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        (_chat(None, "answer"), "'messages[0].content' is null"),
        (
            {"messages": [{"role": None, "content": "q"}, {"role": "assistant", "content": "a"}]},
            "'messages[0].role' is null; use one of ['system', 'user', 'assistant']",
        ),
        (_chat("question", None), "'messages[1].content' is null"),
        (_chat("question", ""), "'messages[1].content' is an empty string"),
        (_chat({"text": "q"}, "answer"), "'messages[0].content' is an object with 1 keys"),
        (
            _chat([{"type": "image_url", "image_url": {"url": "x.png"}}, {"type": "text", "text": "q"}], "a"),
            "'messages[0].content[0]' is an image_url part; medft trains on text only",
        ),
        (_chat(["plain string part"], "a"), "'messages[0].content[0]' is a string of 17 characters, not a text part"),
        ({**MC, "options": [None, "b"]}, "'options[0]' is null"),
        ({**MC, "options": ["a", ""]}, "'options[1]' is an empty string"),
        ({**MC, "options": ["a", True]}, "'options[1]' is a boolean"),
        ({**MC, "options": []}, "'options' holds 0 options"),
        ({**MC, "options": [f"o{i}" for i in range(11)]}, "'options' holds 11 options; give 2 to 10"),
        ({**MC, "question": None}, "'question' is null"),
        ({**MC, "context": ["a", "list"]}, "'context' is a list of 2 items"),
        ({**MC, "options": ["aspirin", "Aspirin ", "x"], "answer": "x"}, "options 1 and 2 (of 3) are the same text"),
        ({**MC, "options": ["aspirin", "ibuprofen", "aspirin"], "answer": "aspirin"}, "options 1 and 3 (of 3)"),
        (
            {**MC, "options": ["B", "A"], "answer": "A"},
            "'answer' names different options (as letter the option shown as A, as text the option shown as B)",
        ),
    ],
)
def test_jsonl_values_that_are_not_text_are_refused_with_line_and_field(tmp_path, obj, needle):
    message = _refused(load_jsonl, _one(tmp_path, obj))
    assert "d.jsonl:1: " in message and needle in message, message


@pytest.mark.faults
def test_openai_text_parts_are_joined(tmp_path):
    parts = [{"type": "text", "text": "Which drug reverses opioids?"}, {"type": "text", "text": "Answer briefly."}]
    (record,) = load_jsonl(_one(tmp_path, _chat(parts, [{"type": "text", "text": "Naloxone."}])))
    assert record.question == "Which drug reverses opioids?\nAnswer briefly." and record.answer == "Naloxone."


LABELLED = [  # (options, answer, the answer's text, the options in display order)
    ({"B": "beta", "A": "alpha", "10": "ten"}, "A", "alpha", ("beta", "alpha", "ten")),  # keys kept as labels
    ({"B": "beta", "A": "alpha", "10": "ten"}, "10", "ten", ("beta", "alpha", "ten")),
    ({"B": "beta", "A": "alpha"}, "A", "alpha", ("alpha", "beta")),  # letter keys: shown in letter order
    ({"B": "beta", "A": "alpha"}, "beta", "beta", ("alpha", "beta")),
    ({"1": "one", "2": "two"}, 2, "two", ("one", "two")),  # an integer that is a key is that key
]


@pytest.mark.faults
def test_an_options_object_keeps_the_users_labels(tmp_path):
    for options, answer, expected, order in LABELLED:
        (record,) = load_jsonl(_one(tmp_path, {"question": "q", "options": options, "answer": answer}))
        assert (record.answer, record.options) == (expected, order), (options, answer)


# --- 19: hostile JSON is one clear error, not a traceback ---------------------------------------

DEEP = "[" * 200_000 + "]" * 200_000
HUGE_NUMBER = "9" * 5000
LONE_SURROGATE = '"\\ud800"'
HOSTILE = {
    "deep": (DEEP, "nested deeper than Python's parser allows"),
    "huge number": (HUGE_NUMBER, "a number with more than 4,300 digits"),
    "lone surrogate": (LONE_SURROGATE, "without its pair (a lone UTF-16 surrogate)"),
}
LINE_LOADERS = {  # loader, file name, a good line, the bad line with {value} where the hostile value goes
    "jsonl": (load_jsonl, "d.jsonl", '{"prompt": "p", "response": "r"}', '{"prompt": "p", "response": {value}}'),
    "preference": (
        load_preference_jsonl,
        "p.jsonl",
        '{"prompt": "p", "chosen": "c", "rejected": "r"}',
        '{"prompt": "p", "chosen": "c", "rejected": {value}}',
    ),
    "huatuo": (
        lambda p: load_huatuo(str(p)),
        "h.jsonl",
        '{"question": "q", "answer": "a"}',
        '{"question": "q", "answer": {value}}',
    ),
    "medqa": (_bench("medqa"), "m_test.jsonl", json.dumps(MEDQA), '{"question": {value}}'),
    "medmcqa": (_bench("medmcqa"), "dev.json", json.dumps(MEDMCQA), '{"question": {value}}'),
}
WHOLE_FILE_LOADERS = {
    "pubmedqa": (_bench("pubmedqa"), "ori_pqal.json", '{"1": {"QUESTION": {value}}}'),
    "cmeee": (lambda p: load_cmeee(str(p)), "c.json", '[{"text": {value}, "entities": []}]'),
    "huatuo array": (lambda p: load_huatuo(str(p)), "h.json", '[{"question": "q", "answer": {value}}]'),
}


@pytest.mark.faults
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("kind", sorted(LINE_LOADERS))
def test_hostile_json_lines_are_refused_naming_the_line(tmp_path, kind, hostile):
    loader, name, good, bad = LINE_LOADERS[kind]
    value, needle = HOSTILE[hostile]
    path = tmp_path / name
    path.write_text(good + "\n" + bad.replace("{value}", value) + "\n", encoding="utf-8")
    message = _refused(loader, path)
    assert f"{path}:2" in message and needle in message, message[:500]


@pytest.mark.faults
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("kind", sorted(WHOLE_FILE_LOADERS))
def test_hostile_json_files_are_refused_naming_the_file(tmp_path, kind, hostile):
    loader, name, template = WHOLE_FILE_LOADERS[kind]
    value, needle = HOSTILE[hostile]
    path = tmp_path / name
    path.write_text(template.replace("{value}", value), encoding="utf-8")
    message = _refused(loader, path)
    assert str(path) in message and needle in message, message[:500]


@pytest.mark.faults
def test_a_lone_surrogate_is_refused_and_a_pair_is_text(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "p \\ud83d\\ude00", "response": "r \\udc00"}\n', encoding="utf-8")
    assert "lone UTF-16 surrogate" in _refused(load_jsonl, path)
    path.write_text('{"prompt": "p \\ud83d\\ude00", "response": "r"}\n', encoding="utf-8")
    assert load_jsonl(path)[0].question == "p \U0001f600"


@pytest.mark.faults
def test_train_py_refuses_a_deep_json_line_in_one_line_with_exit_2(tmp_path):
    data = tmp_path / "deep.jsonl"
    data.write_text('{"prompt": "p", "response": "r"}\n{"prompt": ' + DEEP + ', "response": "r"}\n')
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "model=tiny-random",
            "dry_run=true",
            "dataset=jsonl",
            f"dataset.path={data}",
            f"output_root={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-3000:]
    assert f"{data}:2: JSON nested deeper" in out and "Traceback" not in out and "RecursionError" not in out


# --- 20: the MIMIC notes loader streams --------------------------------------------------------


def _note_rows(n: int) -> str:
    note = '"Admitted with chest pain, ""stable"".\nSeen by cardiology.\n\nDischarged home."'
    return "".join(f'{i},{100 + i},3,,,,"Discharge summary","R",,,{note}\n' for i in range(1, n + 1))


@pytest.mark.faults
def test_mimic_notes_are_read_only_as_far_as_needed(tmp_path):
    """The first notes load even though the file's tail is not UTF-8 and not CSV: the loader
    stops after max_notes instead of decoding the whole file first (a 4 GB NOTEEVENTS.csv). The
    tail starts 200 notes (~25 kB) later, past the few kB a buffered reader reads ahead."""
    path = tmp_path / "NOTEEVENTS.csv"
    good = (MIMIC_HEADER + _note_rows(205)).encode()
    path.write_bytes(good + b'9,1,"\xff\xfe broken \x00 "quote\n' * 1000)
    notes = read_notes(path, max_notes=5)
    assert [n.metadata["note_id"] for n in notes] == ["1", "2", "3", "4", "5"]
    assert notes[0].answer == 'Admitted with chest pain, "stable".\nSeen by cardiology.\n\nDischarged home.'
    assert notes[4].metadata["source"] == "NOTEEVENTS.csv:21"  # quoted newlines: 4 lines a note, after the header
    with pytest.raises(UserError) as err:  # reading on into the tail finds its first bad byte, by line and offset
        read_notes(path)
    assert f"{path}:822: not UTF-8: byte 0xff at offset {len(good) + 5}" in str(err.value)


@pytest.mark.faults
def test_a_mimic_run_reads_only_the_notes_max_samples_needs(tmp_path, compose):
    from medft.data.load import load_splits

    path = tmp_path / "NOTEEVENTS.csv"
    path.write_bytes((MIMIC_HEADER + _note_rows(400)).encode() + b'9,1,"\xff broken\n' * 100)
    cfg = compose(
        [
            "task=clinical_note",
            "dataset=mimic_notes",
            f"dataset.path={path}",
            "dataset.max_samples=20",
            "dataset.note_categories=[]",
        ]
    )
    splits = load_splits(cfg.dataset)
    read = sum(map(len, splits.values()))
    assert len(splits["train"]) <= 20 and 20 <= read <= 23  # 20 / (1 - 0.1) notes, rounded up


# --- 19: damaged safetensors weights -------------------------------------------------------------


def _damage(file: Path, how: str) -> None:
    data = file.read_bytes()
    if how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    else:  # the 8-byte header length is kept, the JSON header after it is garbage
        file.write_bytes(data[:8] + b"{not json" + data[17:])


@pytest.mark.faults
@pytest.mark.parametrize("how", ["truncated", "broken header"])
def test_a_damaged_adapter_file_is_refused_by_name(tmp_path, how):
    import numpy as np
    from safetensors.numpy import save_file

    from medft.models.weights import require_safetensors

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    save_file({"lora_A": np.zeros((8, 64), dtype=np.float32)}, str(adapter / "adapter_model.safetensors"))
    require_safetensors(adapter, "adapter")  # sound: accepted
    _damage(adapter / "adapter_model.safetensors", how)
    with pytest.raises(UserError) as err:
        require_safetensors(adapter, "adapter")
    assert f"adapter={adapter}: adapter_model.safetensors" in str(err.value)
    assert "is not a readable safetensors file" in str(err.value) and "Copy it again" in str(err.value)


@pytest.mark.faults
def test_evaluate_py_on_a_run_with_a_truncated_adapter_is_one_line_and_exit_2(trained_tiny_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_tiny_run, run_dir)
    _damage(run_dir / "adapter" / "adapter_model.safetensors", "truncated")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "evaluate.py"),
            f"run_dir={run_dir}",
            "benchmark=pubmedqa",
            f"benchmark.path={ROOT / 'tests' / 'fixtures' / 'benchmarks' / 'pubmedqa'}",
            "benchmark.limit=4",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-3000:]
    assert "adapter_model.safetensors" in out and "not a readable safetensors file" in out, out[-3000:]
    assert "Traceback" not in out and "SafetensorError" not in out.replace("readable safetensors", "")
    assert not (run_dir / "evaluations").exists()  # refused before Hydra made a folder for it


# --- 19: medft.report over a sweep with files cut short -----------------------------------------


@pytest.mark.faults
def test_report_skips_a_truncated_metrics_and_sweep_json_naming_them(tmp_path):
    from test_report import make_job

    sweep = tmp_path / "multirun" / "sweep"
    make_job(sweep, ["peft_method.r=4", "seed=1"], "finished", 0.54)
    make_job(sweep, ["peft_method.r=8", "seed=1"], "finished", 0.70)
    cut = make_job(sweep, ["peft_method.r=16", "seed=1"], "finished", 0.80) / "metrics.json"
    cut.write_text(cut.read_text()[:40])
    (sweep / "sweep.json").write_text('{"swept": ["peft_method.r", "se')
    result = subprocess.run(
        [sys.executable, "-m", "medft", "report", str(sweep), "--out", str(tmp_path / "report")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"medft report: skipped {cut}: not readable JSON (" in result.stderr
    assert f"medft report: skipped {sweep / 'sweep.json'}: not readable JSON (" in result.stderr
    table = result.stdout
    assert "| 4 | 1 | 54.0 [" in table and "| 8 | 1 | **70.0 [" in table  # the other rows are there
    assert "| 16 | 0 of 1 (1 failed) | FAILED" in table and f"UnreadableMetrics: {cut}" in table


# --- 19: run folders that cannot be made ---------------------------------------------------------


def _train_py(tmp_path, *overrides) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "model=tiny-random", "dry_run=true", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.faults
def test_a_name_too_long_for_a_folder_is_refused_naming_the_key_and_limit(tmp_path):
    code, out = _train_py(tmp_path, f"output_root={tmp_path / 'out'}", "name=" + "a" * 300)
    assert code == 2 and "Traceback" not in out and "OSError" not in out, out[-3000:]
    assert "name: 300 bytes (300 characters) is longer than a folder name may be (255 bytes in UTF-8)" in out
    assert not (tmp_path / "out").exists()


@pytest.mark.faults
def test_an_output_root_that_is_a_file_is_refused_naming_it(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    for root in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "runs"):
        code, out = _train_py(tmp_path, f"output_root={root}")
        assert code == 2 and "Traceback" not in out and "NotADirectoryError" not in out, out[-3000:]
        assert f"output_root: {tmp_path / 'notes.txt'} is a file, not a folder" in out
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


@pytest.mark.faults
def test_a_name_of_256_utf8_bytes_is_refused_for_evaluations_too():
    from medft.run.folders import resolve_eval_dir
    from medft.runtime.paths import OutputFolderError

    with pytest.raises(OutputFolderError, match="name: 256 bytes"):
        resolve_eval_dir(None, "outputs", "é" * 128, "now")


# --- 19: Ctrl-C ----------------------------------------------------------------------------------

QUICK = (
    "eval.before=false",
    "eval.after=false",
    "eval.validation=false",
    "training.save_every_steps=1",
    "training.save_total_limit=5",
    "training.logging_steps=1",
)


@pytest.mark.faults
def test_ctrl_c_in_training_saves_a_checkpoint_and_says_how_to_resume(tiny_cfg, tmp_path):
    from transformers import TrainerCallback

    from medft.recipes.train import run
    from medft.run.checkpoints import seal_problem
    from medft.run.faults import Preempted

    class CtrlCAtStep2(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 1:
                os.kill(os.getpid(), signal.SIGINT)  # arrives during step 2

    run_dir = tmp_path / "run"
    cfg = tiny_cfg(*QUICK, "training.max_steps=4", "training.save_every_steps=100")
    before = signal.getsignal(signal.SIGINT)  # default_int_handler; SIG_IGN under a shell's background job
    with pytest.raises(Preempted) as caught:
        run(cfg, run_dir, callbacks=[CtrlCAtStep2()])
    assert caught.value.exit_code == 130
    assert "Stopped by Ctrl-C after step 2; checkpoint" in str(caught.value) and "resume=true" in str(caught.value)
    assert seal_problem(run_dir / "checkpoints" / "checkpoint-2") is None
    assert signal.getsignal(signal.SIGINT) is before  # only armed while training, then given back


def _as_from_a_terminal() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and a child inherits
    # that: the process under test gets Ctrl-C's default, as when started from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(script: str, args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / script), *args],
        cwd=log.parent,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        preexec_fn=_as_from_a_terminal,
    )


def _wait_for(proc: subprocess.Popen, log: Path, found, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not found():
        assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


@pytest.mark.faults
def test_ctrl_c_to_train_py_exits_130_with_the_resume_command_which_finishes(tmp_path):
    import shlex

    from conftest import TINY

    from medft.run.checkpoints import SEAL_FILE

    out = tmp_path / "out"
    args = [
        *TINY,
        *QUICK,
        f"cache_dir={tmp_path / 'cache'}",
        f"output_root={out}",
        "name=job",
        "training.max_steps=40",
        "hardware.num_threads=1",
        "resume=false",
    ]
    log = tmp_path / "first.log"
    proc = _start("train.py", args, log)
    _wait_for(proc, log, lambda: list(out.glob(f"job/*/checkpoints/checkpoint-*/{SEAL_FILE}")))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    assert "Ctrl-C: saving a checkpoint at the end of this step" in text
    line = next(x for x in text.splitlines() if "Stopped by Ctrl-C after step" in x)
    command = shlex.split(line.split("Continue with: ", 1)[1])
    assert command[:2] == ["python", str(ROOT / "train.py")] and command[-1] == "resume=true"
    assert "resume=false" not in command

    resumed = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
    )
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    (run_dir,) = (out / "job").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "checkpoint-" in metrics["train"]["resumed_from"] and metrics["train"]["steps"] == 40


@pytest.mark.faults
def test_ctrl_c_to_evaluate_py_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "out"
    log = tmp_path / "eval.log"
    bench = ROOT / "tests" / "fixtures" / "benchmarks" / "pubmedqa"
    proc = _start(
        "evaluate.py",
        [
            "model=tiny-random",
            "benchmark=pubmedqa",
            f"benchmark.path={bench}",
            f"cache_dir={tmp_path / 'cache'}",
            f"output_root={out}",
        ],
        log,
    )
    _wait_for(proc, log, lambda: list(out.glob("evaluate/*/*/.hydra")))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    assert "Interrupted by Ctrl-C" in text
