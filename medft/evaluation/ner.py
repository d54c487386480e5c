"""Entity extraction as generation: a fixed output format, its parser, and entity-level scores.

Output format (what the `ner` task trains the model to write, one entity per line):

    dis: type 2 diabetes
    dru: metformin

`<type>: <mention text exactly as in the input>`, in the order the mentions start in the text
(ties: the longer first, so a nested mention follows the one containing it); `none` when
there is no entity. A plain line format rather than JSON: a small model gets it right sooner
(no quoting or escaping), and a half-finished generation still parses line by line.

Parsing maps each line back to a character span: the earliest occurrence of the mention that
starts at or after the previous line's start and whose span this type has not already claimed (so
"sym: cough" listed twice maps to the first and the second cough, and a nested or same-span
mention of another type stays where it is). When no such occurrence exists (out-of-order
output) the earliest unclaimed occurrence anywhere is used; a mention that is not in the text
at all cannot be placed and counts as spurious. Lines that are not `<known type>: <text>` are
counted as malformed and ignored.

Scores, per entity type and micro-averaged over types (Segura-Bedmar et al. 2013, SemEval-2013
Task 9.1; the names follow nervaluate):
- strict: a prediction is correct when its span and its type equal a gold entity's.
  precision = COR / ACT, recall = COR / POS (ACT = predictions, POS = gold entities).
- partial (type-matched): after the exact matches, a remaining prediction that overlaps a
  remaining gold entity of the same type by at least one character is a partial match (one to
  one, as many as possible). precision = (COR + 0.5 PAR) / ACT, recall = (COR + 0.5 PAR) / POS.
  SemEval's own "partial" ignores the type; requiring it here is the question users ask
  ("did it find the drug, roughly where it is?").

Why not nervaluate (checked: version 1.2.1 installs and has the same formulas): it matches
greedily in prediction order, so with nested entities an exact match can be lost: gold
{dis [0,10), dis [0,4)}, predictions {dis [0,6), dis [0,10)} give it strict COR = 0, because
the first prediction claims [0,10) as "incorrect" before the second one is seen. Nested
entities are common in CMeEE, so matching here is exact first, then a maximum bipartite
matching on overlap, neither of which depends on order. seqeval scores BIO tags, which cannot
represent nested entities at all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from medft.data.entities import NO_ENTITY, Entity

_LINE = re.compile(r"^\s*([A-Za-z_]+)\s*[:：]\s*(.*?)\s*$")  # the full-width colon too: Chinese outputs use it


def _occurrences(text: str, mention: str) -> list[int]:
    starts, at = [], text.find(mention)
    while at != -1:
        starts.append(at)
        at = text.find(mention, at + 1)
    return starts


@dataclass
class Parsed:
    entities: list[Entity]  # placed in the text
    unplaced: list[tuple[str, str]]  # (type, mention) lines whose mention is not in the text
    malformed: int  # lines that are not `<known type>: <text>`


def parse_entities(output: str, text: str, types: tuple[str, ...] | list[str]) -> Parsed:
    """Entities of a generated `output`, mapped to character spans of `text`."""
    known = {t.lower(): t for t in types}
    entities, unplaced, malformed = [], [], 0
    claimed: set[tuple[str, int, int]] = set()  # (type, start, end): a span once per type
    cursor = 0
    for line in output.splitlines():
        if not line.strip() or line.strip().lower() == NO_ENTITY:
            continue
        match = _LINE.match(line)
        if not match or match.group(1).lower() not in known or not match.group(2):
            malformed += 1
            continue
        kind, mention = known[match.group(1).lower()], match.group(2)
        free = [s for s in _occurrences(text, mention) if (kind, s, s + len(mention)) not in claimed]
        if not free:
            unplaced.append((kind, mention))
            continue
        start = next((s for s in free if s >= cursor), free[0])
        claimed.add((kind, start, start + len(mention)))
        cursor = start
        entities.append(Entity(start, start + len(mention), kind, mention))
    return Parsed(entities, unplaced, malformed)


def _max_overlap_matching(gold: list[Entity], pred: list[Entity]) -> int:
    """Size of a maximum one-to-one matching between overlapping spans (Kuhn's augmenting paths)."""
    edges = [[g for g, ge in enumerate(gold) if p.start < ge.end and ge.start < p.end] for p in pred]
    owner: dict[int, int] = {}

    def augment(p: int, seen: set[int]) -> bool:
        for g in edges[p]:
            if g in seen:
                continue
            seen.add(g)
            if g not in owner or augment(owner[g], seen):
                owner[g] = p
                return True
        return False

    return sum(augment(p, set()) for p in range(len(pred)))


def _match_one_type(gold: list[Entity], pred: list[Entity]) -> tuple[int, int]:
    """(exact matches, partial matches among the rest) for one document and one type."""
    remaining_gold = list(gold)
    remaining_pred = []
    exact = 0
    for p in pred:
        hit = next((g for g in remaining_gold if (g.start, g.end) == (p.start, p.end)), None)
        if hit is None:
            remaining_pred.append(p)
        else:
            remaining_gold.remove(hit)
            exact += 1
    return exact, _max_overlap_matching(remaining_gold, remaining_pred)


def _prf(credit: float, actual: int, possible: int) -> dict:
    precision = credit / actual if actual else 0.0
    recall = credit / possible if possible else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score_entities(
    gold_docs: list[list[Entity]], pred_docs: list[list[Entity]], unplaced_per_doc: list[int] | None = None
) -> dict:
    """Strict and partial precision / recall / F1 per type and micro overall.

    `unplaced_per_doc` counts predictions that could not be placed in each text: they are
    predictions (ACT) that match nothing, whatever their type, so they lower precision overall only.
    """
    if len(gold_docs) != len(pred_docs):
        raise ValueError(f"{len(pred_docs)} predicted documents for {len(gold_docs)} gold ones")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"cor": 0, "par": 0, "act": 0, "pos": 0})
    for gold, pred in zip(gold_docs, pred_docs):
        for kind in {e.type for e in gold} | {e.type for e in pred}:
            g = [e for e in gold if e.type == kind]
            p = [e for e in pred if e.type == kind]
            exact, partial = _match_one_type(g, p)
            c = counts[kind]
            c["cor"] += exact
            c["par"] += partial
            c["act"] += len(p)
            c["pos"] += len(g)
    unplaced = sum(unplaced_per_doc or [])
    per_type = {}
    for kind in sorted(counts):
        c = counts[kind]
        per_type[kind] = {
            "n_gold": c["pos"],
            "n_pred": c["act"],
            "correct": c["cor"],
            "partial": c["par"],
            "strict": _prf(c["cor"], c["act"], c["pos"]),
            "partial_match": _prf(c["cor"] + 0.5 * c["par"], c["act"], c["pos"]),
        }
    cor = sum(c["cor"] for c in counts.values())
    par = sum(c["par"] for c in counts.values())
    act = sum(c["act"] for c in counts.values()) + unplaced
    pos = sum(c["pos"] for c in counts.values())
    return {
        "n_documents": len(gold_docs),
        "n_gold": pos,
        "n_pred": act,
        "unplaced": unplaced,
        "strict": _prf(cor, act, pos),
        "partial_match": _prf(cor + 0.5 * par, act, pos),
        "per_type": per_type,
    }
