"""Text metrics that work on Chinese: tokens are characters (or jieba words), not spaces.

Chinese is written without spaces, so a whitespace tokenizer sees a whole sentence as one
"word" and ROUGE or token F1 become all-or-nothing. rouge_score's default tokenizer is worse
still: it drops every non-ASCII character, so two different Chinese sentences score 0 (or, both
empty, undefined). Here a text with CJK characters is split into characters (`chars`, the
usual choice for Chinese ROUGE: no dictionary, no segmentation errors) or into jieba words
(`jieba`, pip install jieba: closer to word-level ROUGE, but its dictionary decides the
units); ASCII runs (numbers, English terms, drug names) stay whole words either way. Text
without CJK characters keeps rouge_score's own tokenizer and Porter stemming, so English
numbers equal those of medft.evaluation.generative.
"""

from __future__ import annotations

import re

from medft.evaluation.generative import normalize_answer

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_UNIT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*")
TOKENIZERS = ("chars", "jieba")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def tokenize(text: str, mode: str = "chars") -> list[str]:
    """Characters for CJK, whole words for ASCII runs; punctuation and spaces dropped."""
    if mode == "chars":
        return [t.lower() for t in _UNIT.findall(text)]
    if mode == "jieba":
        import jieba

        words = []
        for piece in jieba.lcut(text):
            words += [piece.lower()] if has_cjk(piece) else [t.lower() for t in _UNIT.findall(piece)]
        return [w for w in words if w.strip() and (has_cjk(w) or _UNIT.fullmatch(w))]
    raise ValueError(f"Chinese tokenizer {mode!r} is not one of {list(TOKENIZERS)}")


class _Tokenizer:
    """The interface rouge_score's RougeScorer(tokenizer=...) calls."""

    def __init__(self, mode: str):
        self.mode = mode

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.mode)


def rouge_l(predictions: list[str], references: list[str], zh_tokenizer: str = "chars") -> list[float]:
    """Per-item ROUGE-L F: CJK-aware tokens when either side holds CJK, rouge_score's English ones otherwise."""
    from rouge_score import rouge_scorer

    english = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    chinese = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer(zh_tokenizer))
    scores = []
    for pred, ref in zip(predictions, references, strict=True):
        scorer = chinese if has_cjk(pred) or has_cjk(ref) else english
        scores.append(scorer.score(ref, pred)["rougeL"].fmeasure)
    return scores


def normalize(text: str) -> str:
    """For exact match: lower case, no punctuation or spaces, articles dropped in English (SQuAD's rule)."""

    if has_cjk(text):
        return "".join(tokenize(text, "chars"))
    return normalize_answer(text)
