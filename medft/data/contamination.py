"""Contamination check: are the questions a run evaluates on already in its training data?

Every training question is compared, after normalisation (lower case, letters and digits only),
with every evaluated question: the dataset's own validation/test/control splits and each
benchmark of `benchmark=`. A training record is contaminated when its normalised question equals
an evaluated one (exact) or when at least `item_threshold` of its word n-grams occur in one
evaluated question (near: light rewording keeps most n-grams). N-grams shared by many evaluated
questions, or by many training questions ("which of the following is the most ..."), are
boilerplate, not evidence, and are skipped. Tasks whose answer is free text a model could learn
by heart (clinical_note summaries: `task.answer_contamination`) have their answers compared the
same way, as a second pass with `text=answer_text`. Hand-written: no maintained library does train-vs-benchmark overlap on our records
(lm-evaluation-harness's decontamination works on its own task files and 13-gram Pile indexes).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict

COMMON_NGRAM = 20  # an n-gram in more evaluated questions than this is boilerplate
COMMON_IN_TRAIN = 5  # ... or in more training questions than this (and 0.5% of them)
MAX_EXAMPLES = 20


def item_text(record) -> str:
    """What a model is asked: the context (a note, an abstract) and the question. Tasks whose
    question is a fixed instruction ("Summarise this clinical note") differ only in the context."""
    return f"{record.context} {record.question}" if record.context else record.question


def answer_text(record) -> str:
    """What a model is trained to write: the target side."""
    return record.answer or ""


def normalise(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text).lower()
    return re.findall(r"[a-z0-9]+", text)


MIN_NGRAM = 3


def ngram_size(n_words: int, n: int) -> int:
    return min(n, max(MIN_NGRAM, n_words // 2))


def ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    if len(words) <= n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class _Index:
    """Evaluated questions by normalised text and by n-gram."""

    def __init__(self, records, n: int, text=item_text):
        self.n, self.exact, by_gram = n, {}, defaultdict(list)
        for i, record in enumerate(records):
            words = normalise(text(record))
            self.exact.setdefault(" ".join(words), i)
            for size in range(MIN_NGRAM, n + 1):  # every size a training question may be cut into
                for gram in ngrams(words, size):
                    by_gram[gram].append(i)
        self.by_gram = {g: ids for g, ids in by_gram.items() if len(ids) <= COMMON_NGRAM}

    def best_match(self, words: list[str], grams: set, boilerplate: set) -> tuple[int | None, float, bool]:
        """(evaluated index, overlap, exact) of the evaluated question closest to a training one."""
        if not words:
            return None, 0.0, False
        exact = self.exact.get(" ".join(words))
        if exact is not None:
            return exact, 1.0, True
        shared: Counter = Counter()
        for gram in grams - boilerplate:
            shared.update(self.by_gram.get(gram, ()))
        if not shared:
            return None, 0.0, False
        index, count = shared.most_common(1)[0]
        return index, count / len(grams), False


def overlap_report(train, eval_sets: dict, n: int, item_threshold: float, text=item_text) -> tuple[dict, set[int]]:
    """({set name: counts and examples}, indices of contaminated training records); `text` picks
    the side compared (item_text: what the model is asked, answer_text: what it writes)."""
    report, contaminated = {}, set()
    words = [normalise(text(r)) for r in train]
    grams = [ngrams(w, ngram_size(len(w), n)) for w in words]
    # Counted at every size: a phrase is boilerplate whatever length a question cuts it into.
    in_train = Counter(g for w in words for size in range(MIN_NGRAM, n + 1) for g in ngrams(w, size) if len(g) == size)
    limit = max(COMMON_IN_TRAIN, 0.005 * len(train))
    boilerplate = {g for g, count in in_train.items() if count > limit}
    del in_train
    for name, records in eval_sets.items():
        index = _Index(records, n, text)
        exact = near = 0
        examples = []
        for t, record in enumerate(train):
            match, overlap, is_exact = index.best_match(words[t], grams[t], boilerplate)
            if match is None or overlap < item_threshold:
                continue
            contaminated.add(t)
            exact += is_exact
            near += not is_exact
            if len(examples) < MAX_EXAMPLES:
                examples.append(
                    {
                        "train_index": t,
                        "train_line": record.metadata.get("line"),
                        "eval_index": match,
                        "eval_id": records[match].metadata.get("id"),
                        "overlap": round(overlap, 3),
                        "exact": is_exact,
                    }
                )
        report[name] = {
            "evaluated": len(records),
            "exact": exact,
            "near": near,
            "contaminated": exact + near,
            "fraction_of_train": (exact + near) / len(train) if train else 0.0,
            "examples": examples,
        }
    return report, contaminated
