"""The builtin medical dataset: a checked fact table rendered into questions by code.

Each fact (category, subject, answer) is asked through paraphrase templates. Train templates
are trained on; the validation template and the test templates are held out, so evaluation asks
trained facts in new words. A share of facts per category (the control set) is never trained
and is asked with the test templates: the gain there is format learning, not knowledge.

Multiple-choice distractors are other answers of the same category, and the correct letter
cycles A, B, C, D within each split so no position is favoured. Everything is a pure function
of the tables and `split_seed`.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources

from medft.data.records import Record

N_OPTIONS = 4
SPLITS = ("train", "validation", "test", "control")


@dataclass(frozen=True)
class Fact:
    category: str
    subject: str
    answer: str
    reference: str


def _data_file(name: str):
    return resources.files(__package__).joinpath(name)


def load_facts() -> list[Fact]:
    facts, seen = [], set()
    with _data_file("facts.csv").open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            values = {k: (row.get(k) or "").strip() for k in ("category", "subject", "answer", "reference")}
            empty = [k for k, v in values.items() if not v]
            if empty:
                raise ValueError(f"facts.csv:{line_no}: empty {empty}")
            key = (values["category"], values["subject"].lower())
            if key in seen:
                raise ValueError(
                    f"facts.csv:{line_no}: duplicate subject {values['subject']!r} in {values['category']}"
                )
            seen.add(key)
            facts.append(Fact(**values))
    return facts


def load_templates() -> dict[str, dict[str, list[str]]]:
    import yaml

    with _data_file("templates.yaml").open(encoding="utf-8") as handle:
        templates = yaml.safe_load(handle)
    for category, parts in templates.items():
        for split in ("train", "validation", "test"):
            if not parts.get(split) or any("{subject}" not in t for t in parts[split]):
                raise ValueError(f"templates.yaml: {category}.{split} needs templates with {{subject}}")
    return templates


def _rng(*key) -> random.Random:
    # A per-item generator: adding a fact never changes the options of another.
    digest = hashlib.sha256("|".join(map(str, key)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _question(template: str, subject: str) -> str:
    text = template.format(subject=subject)
    return text[0].upper() + text[1:]


def _split_facts(facts: list[Fact], control_fraction: float, seed: int) -> tuple[list[Fact], list[Fact]]:
    by_category: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        by_category[fact.category].append(fact)
    trained, control = [], []
    for category in sorted(by_category):
        group = sorted(by_category[category], key=lambda f: f.subject)
        _rng(seed, "control", category).shuffle(group)
        n_control = max(1, round(len(group) * control_fraction)) if control_fraction > 0 else 0
        control += group[:n_control]
        trained += group[n_control:]
    return trained, control


def _multiple_choice(fact: Fact, template: str, answers: list[str], slot: int, split: str, seed: int) -> Record:
    wrong = sorted({a for a in answers if a.lower() != fact.answer.lower()})
    distractors = _rng(seed, split, fact.category, fact.subject, template).sample(wrong, N_OPTIONS - 1)
    options = distractors[:slot] + [fact.answer] + distractors[slot:]
    return Record(
        question=_question(template, fact.subject),
        answer=fact.answer,
        options=tuple(options),
        answer_index=slot,
        metadata={"category": fact.category, "subject": fact.subject, "template": template, "split": split},
    )


TRAIN_FORMATS = ("qa", "mc")


def build_builtin_splits(
    control_fraction: float = 0.12, seed: int = 0, train_formats: tuple[str, ...] = TRAIN_FORMATS
) -> dict[str, list[Record]]:
    """Render the fact table into train / validation / test / control records.

    Held-out splits are always multiple choice; `train_formats` picks what the train split
    holds: free-text question/answer pairs ("qa"), multiple-choice questions ("mc"), or both.
    """
    unknown = sorted(set(train_formats) - set(TRAIN_FORMATS))
    if unknown or not train_formats:
        raise ValueError(
            f"dataset.train_formats: {list(train_formats)} must be a non-empty subset of {list(TRAIN_FORMATS)}"
        )
    facts, templates = load_facts(), load_templates()
    missing = sorted({f.category for f in facts} - set(templates))
    if missing:
        raise ValueError(f"templates.yaml has no templates for categories {missing}")
    answers: dict[str, list[str]] = defaultdict(list)
    for fact in facts:
        answers[fact.category].append(fact.answer)
    trained, control = _split_facts(facts, control_fraction, seed)

    plan = {
        "train": (trained, "train"),
        "validation": (trained, "validation"),
        "test": (trained, "test"),
        "control": (control, "test"),
    }
    splits: dict[str, list[Record]] = {}
    for split, (fact_set, template_split) in plan.items():
        items = [(fact, t) for fact in fact_set for t in templates[fact.category][template_split]]
        _rng(seed, "order", split).shuffle(items)
        # Slot cycles over the shuffled items: the correct letter is balanced across A-D.
        splits[split] = [
            _multiple_choice(fact, t, answers[fact.category], i % N_OPTIONS, split, seed)
            for i, (fact, t) in enumerate(items)
        ]
    if "mc" not in train_formats:
        splits["train"] = []
    if "qa" in train_formats:
        qa = [
            Record(
                question=_question(t, fact.subject),
                answer=fact.answer,
                metadata={"category": fact.category, "subject": fact.subject, "template": t, "split": "train"},
            )
            for fact in trained
            for t in templates[fact.category]["train"]
        ]
        splits["train"] = splits["train"] + qa
        _rng(seed, "order", "train+qa").shuffle(splits["train"])
    return splits
