"""lm-evaluation-harness side of the evaluation speed benchmark (issue 4): run the harness's own
task on local files, so that it and medft's scorer see the same model and the same items.

    python perf/harness_runner.py --model-dir DIR --benchmark pubmedqa \\
        --source /work/shared/data/pubmedqa/ori_pqal_trainpool.json --batch-size 16 --limit 20 [--per-item]

Importable from a script in this folder (it is not a package):

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness_runner import run_harness, write_harness_docs

`write_harness_docs` turns a local benchmark file into JSONL docs in the field layout of the dataset
the harness task was written for (item i of the source file is doc i); `run_harness` evaluates them
with `lm_eval.simple_evaluate(model="hf", ...)` and the harness's own task config, loaded from the
installed lm_eval/tasks/<task>.yaml with lm_eval's YAML loader (so `!function` prompt functions,
doc_to_choice, target delimiter and description are the harness's), with only the dataset swapped
to the local JSONL (`dataset_path: json`, one `test` split). It runs fully offline: set
HF_HUB_OFFLINE=1 / HF_DATASETS_OFFLINE=1 before transformers or datasets are imported (this module
sets them if unset); the "json" builder ships with `datasets`, the model and tokenizer load from
`model_dir`, and the one hub call the harness makes (HFLM.get_model_info -> HfApi().model_info, for
the model sha in results["config"]) fails fast offline and is caught by the harness.

What the harness's HF model (lm_eval 0.4.13, lm_eval/models/huggingface.py, api/model.py) does for
these multiple-choice (loglikelihood) tasks, i.e. what medft's scorer has to match:
  * Requests: one (context, continuation) per choice; context = description + doc_to_text(doc)
    (few-shot examples in between when num_fewshot > 0), continuation = target_delimiter (" ") +
    choice, e.g. ("...Answer:", " yes"). No chat template (apply_chat_template=False).
  * add_bos_token defaults to None: tok_encode calls tokenizer.encode(text) with the tokenizer's
    default add_special_tokens=True, i.e. whatever its post-processor adds (Gemma-3: <bos>;
    SmolLM2: nothing); only if the text already starts with the decoded BOS string is it encoded
    with add_special_tokens=False.
  * `_encode_pair`: trailing whitespace of the context is moved to the front of the continuation;
    then whole = tok_encode(context + continuation), ctx = tok_encode(context), and the continuation
    tokens are whole[len(ctx):] (the split is by the context's own token count, not a separate
    encoding of the continuation).
  * `_loglikelihood_tokens`: model input = (ctx + cont)[-(max_length + 1):][:-1] (left truncation
    past max_length = config n_positions / max_position_embeddings / n_ctx), sorted by descending
    total length, batched `batch_size` at a time, RIGHT-padded with token id 0 and run as
    `model(inps).logits` with NO attention mask (causal attention keeps padding out of the real
    positions). The full vocabulary logits are projected at every position and `F.log_softmax` is
    taken over the whole [batch, padded_len, vocab] tensor (softmax_dtype None = model dtype, fp32
    here); then the continuation positions [inplen - contlen : inplen] are sliced out, the
    continuation tokens' log-probs gathered and summed -> (loglikelihood, is_greedy).
  * Dedup: with the causal backend and logits_cache=True (default) the Collator uses
    group_by="contexts" keyed on ctx + cont[:-1]; one forward (the longest continuation of the group)
    serves every request in the group. So single-token continuations sharing a context (" A".." D",
    " yes"/" no"/" maybe" when each is one token) cost ONE forward per document, of the context alone.
  * Metrics (ConfigurableTask.process_results): acc = argmax of the summed loglikelihoods == gold;
    acc_norm = argmax(ll / len(choice string in characters, without the delimiter)) == gold.
    pubmedqa's and mmlu's yaml list only acc; this runner adds acc_norm to metric_list (computed by
    the same harness code) and changes nothing else in the config.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# benchmark name -> (harness task name, task yaml relative to lm_eval/tasks). mmlu_<subject> is derived.
HARNESS_TASKS = {
    "pubmedqa": ("pubmedqa", "pubmedqa/pubmedqa.yaml"),
    "medqa": ("medqa_4options", "medqa/medqa.yaml"),
    "medmcqa": ("medmcqa", "medmcqa/medmcqa.yaml"),
}
LETTERS = ("A", "B", "C", "D")
SPLIT = "test"


def harness_task(benchmark: str) -> tuple[str, Path]:
    """(harness task name, path of the harness's installed task yaml) for a benchmark name."""
    import lm_eval.tasks

    tasks_dir = Path(lm_eval.tasks.__file__).parent
    if benchmark.startswith("mmlu_"):
        name, rel = benchmark, f"mmlu/default/{benchmark}.yaml"
    elif benchmark in HARNESS_TASKS:
        name, rel = HARNESS_TASKS[benchmark]
    else:
        raise ValueError(f"unknown benchmark {benchmark!r}: pubmedqa, medqa, medmcqa or mmlu_<subject>")
    path = tasks_dir / rel
    if not path.is_file():
        raise FileNotFoundError(f"no harness task yaml for {benchmark!r} at {path}")
    return name, path


# ----------------------------------------------------------------------------- local files -> docs


def _read_json_records(path: Path) -> list[dict]:
    """A JSON array, a JSON object of records, or JSON lines."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [data] if isinstance(data, dict) and "question" in data else data


def _pubmedqa_docs(path: Path) -> list[dict]:
    # ori_pqal.json / ori_pqal_trainpool.json: {PMID: {QUESTION, CONTEXTS, LABELS, MESHES, YEAR,
    # reasoning_*_pred, final_decision, LONG_ANSWER}} -- the bigbio *_source schema minus QUESTION_ID.
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.items() if isinstance(data, dict) else ((str(r.get("QUESTION_ID", i)), r) for i, r in enumerate(data))
    return [{"QUESTION_ID": str(pmid), **{k: v for k, v in rec.items() if k != "QUESTION_ID"}} for pmid, rec in items]


def _medmcqa_docs(path: Path) -> list[dict]:
    # Local dev/sample files number cop from 1 (1 = A); the hub's openlifescienceai/medmcqa, which
    # the harness task reads, from 0.
    docs = []
    for rec in _read_json_records(path):
        cop = int(rec["cop"])
        if not 1 <= cop <= 4:
            raise ValueError(f"{path}: cop {cop} outside 1..4 in record {rec.get('id')}")
        docs.append({**rec, "cop": cop - 1})
    return docs


def _medqa_docs(path: Path) -> list[dict]:
    # MedQA-USMLE 4_options jsonl {question, options{A..D}, answer_idx} -> GBaker/MedQA-USMLE-4-options-hf
    # {id, sent1, sent2, ending0..3, label}.
    docs = []
    for i, rec in enumerate(_read_json_records(path)):
        options = rec["options"]
        docs.append(
            {
                "id": str(rec.get("id", i)),
                "sent1": rec["question"],
                "sent2": "",
                **{f"ending{j}": options[letter] for j, letter in enumerate(LETTERS)},
                "label": LETTERS.index(rec["answer_idx"].strip()),
            }
        )
    return docs


def _mmlu_docs(path: Path, subject: str) -> list[dict]:
    # MMLU data/<split>/<subject>_<split>.csv, headerless: question,A,B,C,D,answer-letter -> cais/mmlu
    # {question, subject, choices, answer int}.
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [row for row in csv.reader(fh) if row]
    return [
        {"question": q, "subject": subject, "choices": [a, b, c, d], "answer": LETTERS.index(ans.strip())}
        for q, a, b, c, d, ans in rows
    ]


def write_harness_docs(benchmark: str, records_source: str, out_dir, limit: int | None = None) -> Path:
    """Write `records_source` (a local benchmark file in its native format) as JSONL docs in the
    schema the harness task for `benchmark` reads; source order kept, first `limit` items if given.
    Returns the path of the JSONL file (out_dir/<task>.jsonl)."""
    source = Path(records_source).expanduser()
    task_name, _ = harness_task(benchmark)
    if benchmark == "pubmedqa":
        docs = _pubmedqa_docs(source)
    elif benchmark == "medmcqa":
        docs = _medmcqa_docs(source)
    elif benchmark == "medqa":
        docs = _medqa_docs(source)
    else:
        docs = _mmlu_docs(source, benchmark.removeprefix("mmlu_"))
    if limit is not None:
        docs = docs[:limit]
    if not docs:
        raise ValueError(f"no items in {source}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{task_name}.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


# ----------------------------------------------------------------------------- harness run


def harness_task_config(benchmark: str, docs_jsonl: Path) -> dict:
    """The harness's own task config for `benchmark` (lm_eval's YAML loader: includes merged,
    `!function` resolved to the harness's functions) with only the data source swapped to
    `docs_jsonl` (and acc_norm added to metric_list where missing)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    task_name, yaml_path = harness_task(benchmark)
    cfg = load_yaml(yaml_path, resolve_func=True, recursive=True)
    for key in ("tag", "group", "dataset_name", "training_split", "validation_split"):
        cfg.pop(key, None)
    cfg.update(
        {
            "task": task_name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {SPLIT: str(Path(docs_jsonl).resolve())}},
            "test_split": SPLIT,
            # Few-shot examples (num_fewshot > 0) come from the same file; the harness leaves the
            # evaluated doc out when fewshot_split == test_split. (MMLU's yaml would use its dev split.)
            "fewshot_split": SPLIT,
        }
    )
    metrics = [dict(m) for m in cfg.get("metric_list", [])]
    if not any(m.get("metric") == "acc_norm" for m in metrics):
        metrics.append({"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True})
    cfg["metric_list"] = metrics
    return cfg


def _timed(fn, timings: dict, key: str):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start

    return wrapper


@contextlib.contextmanager
def _timed_phases(timings: dict):
    """Time the phases inside simple_evaluate by wrapping the module-level names it calls:
    load_s: lm_eval.api.registry.get_model(name).create_from_arg_string/obj (HF model + tokenizer);
    task_index_s: lm_eval.evaluator.TaskManager(...) (scans all ~15k installed task yamls);
    evaluate_s: lm_eval.evaluator.evaluate(...) (dataset rows -> requests, tokenization, forwards,
    metrics). The rest of wall_s is task building/dataset load, seeding, get_model_info, git hash."""
    import lm_eval.api.registry as registry
    import lm_eval.evaluator as evaluator

    real = (registry.get_model, evaluator.TaskManager, evaluator.evaluate)

    def get_model(name):
        cls = real[0](name)
        return type(
            "TimedModelFactory",
            (),
            {
                "create_from_arg_string": staticmethod(_timed(cls.create_from_arg_string, timings, "load_s")),
                "create_from_arg_obj": staticmethod(_timed(cls.create_from_arg_obj, timings, "load_s")),
            },
        )

    registry.get_model = get_model
    evaluator.TaskManager = _timed(real[1], timings, "task_index_s")
    evaluator.evaluate = _timed(real[2], timings, "evaluate_s")
    try:
        yield
    finally:
        registry.get_model, evaluator.TaskManager, evaluator.evaluate = real


def run_harness(
    model_dir: str, benchmark: str, docs_jsonl: Path, batch_size: int, limit: int | None = None, num_fewshot: int = 0
) -> dict:
    """Evaluate the model in `model_dir` (a transformers checkpoint folder) on `docs_jsonl` with
    lm_eval.simple_evaluate and the harness's own task config for `benchmark`.

    Returns {"acc", "acc_norm", "n", "wall_s" (the whole simple_evaluate call: task index, dataset
    load, model load, scoring), "load_s" (model + tokenizer construction), "task_index_s" (the
    TaskManager simple_evaluate builds: an index of every installed task, not needed for an inline
    config but part of a plain harness run), "evaluate_s" (lm_eval.evaluator.evaluate: requests,
    tokenization, forwards, metrics), "task", "per_item": [
    {"index", "gold", "loglikelihoods" (one per choice, choice order), "is_greedy", "acc",
    "acc_norm", "prompt", "continuations"}]}; "index" is the doc's line in `docs_jsonl`."""
    import lm_eval

    cfg = harness_task_config(benchmark, docs_jsonl)
    task_name = cfg["task"]
    timings: dict = {}
    start = time.perf_counter()
    with _timed_phases(timings):
        results = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={model_dir},dtype=float32",
            tasks=[cfg],  # inline config dict: TaskManager.load -> TaskIndex.entry_from_config -> ConfigurableTask
            batch_size=batch_size,
            device="cpu",
            num_fewshot=num_fewshot,
            limit=limit,
            log_samples=True,
        )
    wall_s = time.perf_counter() - start

    metrics = results["results"][task_name]
    choices = cfg["doc_to_choice"]
    per_item = []
    for sample in sorted(results["samples"][task_name], key=lambda s: s["doc_id"]):
        target = sample["target"]
        gold = choices.index(target) if isinstance(target, str) else int(target)
        lls, greedy = zip(*sample["filtered_resps"], strict=True)
        per_item.append(
            {
                "index": sample["doc_id"],
                "gold": gold,
                "loglikelihoods": [float(x) for x in lls],
                "is_greedy": [bool(x) for x in greedy],
                "acc": sample["acc"],
                "acc_norm": sample["acc_norm"],
                "prompt": sample["arguments"][0][0],
                "continuations": [arg[1] for arg in sample["arguments"]],
            }
        )
    return {
        "task": task_name,
        "acc": metrics["acc,none"],
        "acc_norm": metrics["acc_norm,none"],
        "n": len(per_item),
        "wall_s": wall_s,
        "load_s": timings.get("load_s"),
        "task_index_s": timings.get("task_index_s"),
        "evaluate_s": timings.get("evaluate_s"),
        "per_item": per_item,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="transformers checkpoint folder")
    parser.add_argument("--benchmark", required=True, help="pubmedqa | medqa | medmcqa | mmlu_<subject>")
    parser.add_argument("--source", required=True, help="local benchmark file in its native format")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--num-fewshot", type=int, default=0)
    parser.add_argument("--out-dir", default=None, help="where the JSONL docs go (default: a temporary folder)")
    parser.add_argument("--per-item", action="store_true", help="include the per-document results")
    args = parser.parse_args()

    import logging
    import tempfile

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="harness_docs_") as tmp:
        docs = write_harness_docs(args.benchmark, args.source, args.out_dir or tmp, limit=args.limit)
        result = run_harness(
            args.model_dir, args.benchmark, docs, args.batch_size, limit=args.limit, num_fewshot=args.num_fewshot
        )
    if not args.per_item:
        result.pop("per_item")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
