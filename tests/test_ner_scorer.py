"""The NER output format round-trips, and the scorer matches strict and partial F1 computed by hand
on a project-written fixture with nested, overlapping and repeated entities."""

from __future__ import annotations

import pytest

from medft.data.entities import Entity, format_entities
from medft.evaluation.ner import parse_entities, score_entities

TYPES = ("dis", "sym", "dru", "bod")


def ent(text: str, mention: str, kind: str, nth: int = 0) -> Entity:
    """The `nth` occurrence of `mention` in `text` as an entity (offsets by lookup, not typed by hand)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(mention, start + 1)
    return Entity(start, start + len(mention), kind, mention)


T1 = "Chest pain and fever after aspirin; fever recurred."
T2 = "Type 2 diabetes treated with metformin 500 mg."
T3 = "Acute kidney injury"
T4 = "No complaints today."
GOLD = [
    [
        ent(T1, "Chest pain", "sym"),
        ent(T1, "Chest", "bod"),
        ent(T1, "fever", "sym"),
        ent(T1, "aspirin", "dru"),
        ent(T1, "fever", "sym", nth=1),
    ],
    [ent(T2, "Type 2 diabetes", "dis"), ent(T2, "metformin 500 mg", "dru")],
    [ent(T3, "Acute kidney injury", "dis"), ent(T3, "kidney", "bod"), ent(T3, "kidney injury", "dis")],
    [],
]
OUTPUTS = [
    "sym: Chest pain\nbod: Chest\nsym: fever\ndru: aspirin\ndis: pain",  # misses the 2nd fever; 'pain' spurious
    "dis: diabetes\ndru: metformin\nsym: polyuria",  # two partial matches; polyuria is not in the text
    "dis: Acute kidney\ndis: Acute kidney injury\nbod: kidney",  # the order that defeats greedy matching
    "Diagnosis unclear\nxyz: foo",  # two malformed lines
]


def test_gold_entities_round_trip_through_the_output_format():
    for text, gold in zip((T1, T2, T3, T4), GOLD):
        parsed = parse_entities(format_entities(gold), text, TYPES)
        assert sorted(parsed.entities, key=lambda e: (e.start, e.end, e.type)) == sorted(
            gold, key=lambda e: (e.start, e.end, e.type)
        )
        assert parsed.unplaced == [] and parsed.malformed == 0
    assert format_entities([]) == "none"
    assert format_entities(GOLD[2]).splitlines() == [
        "dis: Acute kidney injury",
        "dis: kidney injury",
        "bod: kidney",
    ]  # same start: longer first


def test_repeated_mentions_map_to_successive_occurrences():
    parsed = parse_entities("sym: fever\nsym: fever\nsym: fever", T1, TYPES)
    assert [e.start for e in parsed.entities] == [15, 36]  # the third has no occurrence left
    assert parsed.unplaced == [("sym", "fever")]
    out_of_order = parse_entities("sym: fever\nsym: Chest pain\nsym: fever", T1, TYPES)
    assert [(e.start, e.text) for e in out_of_order.entities] == [(15, "fever"), (0, "Chest pain"), (36, "fever")]


def test_parser_accepts_case_and_a_full_width_colon_and_counts_malformed_lines():
    parsed = parse_entities("DIS：糖尿病\nnot an entity\n\nnone", "2型糖尿病", ("dis",))
    assert parsed.entities == [Entity(2, 5, "dis", "糖尿病")] and parsed.malformed == 1


def test_scores_match_the_hand_computed_values():
    parsed = [parse_entities(out, text, TYPES) for out, text in zip(OUTPUTS, (T1, T2, T3, T4))]
    assert [p.malformed for p in parsed] == [0, 0, 0, 2]
    scores = score_entities(GOLD, [p.entities for p in parsed], [len(p.unplaced) for p in parsed])
    # By hand (COR exact, PAR partial, ACT predictions, POS gold):
    # sym: COR 2, ACT 2, POS 3 -> strict P 1, R 2/3, F1 0.8 (no partials)
    # bod: COR 2, ACT 2, POS 2 -> 1 / 1 / 1
    # dru: COR 1, PAR 1 (metformin in 'metformin 500 mg'), ACT 2, POS 2 -> strict 0.5; partial 1.5/2 = 0.75
    # dis: COR 1 (doc 3 exact), PAR 2 (diabetes; Acute kidney ~ kidney injury), ACT 4 (pain spurious), POS 3
    #      -> strict P 1/4, R 1/3, F1 2/7; partial P 2/4, R 2/3, F1 4/7
    # micro: COR 6, PAR 3, ACT 10 + 1 unplaced = 11, POS 10 -> strict F1 12/21 = 4/7, partial F1 15/21 = 5/7
    per = scores["per_type"]
    assert per["sym"]["strict"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8})
    assert per["sym"]["partial_match"] == per["sym"]["strict"]
    assert per["bod"]["strict"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0})
    assert per["dru"]["strict"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert per["dru"]["partial_match"] == pytest.approx({"precision": 0.75, "recall": 0.75, "f1": 0.75})
    assert per["dis"]["strict"] == pytest.approx({"precision": 0.25, "recall": 1 / 3, "f1": 2 / 7})
    assert per["dis"]["partial_match"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7})
    assert (per["dis"]["correct"], per["dis"]["partial"], per["dis"]["n_pred"], per["dis"]["n_gold"]) == (1, 2, 4, 3)
    assert (scores["n_gold"], scores["n_pred"], scores["unplaced"]) == (10, 11, 1)
    assert scores["strict"] == pytest.approx({"precision": 6 / 11, "recall": 0.6, "f1": 4 / 7})
    assert scores["partial_match"] == pytest.approx({"precision": 7.5 / 11, "recall": 0.75, "f1": 5 / 7})


def test_matching_does_not_depend_on_prediction_order():
    gold = [[Entity(0, 10, "dis", "x"), Entity(0, 4, "dis", "y")]]
    for preds in (
        [Entity(0, 6, "dis", "a"), Entity(0, 10, "dis", "b")],
        [Entity(0, 10, "dis", "b"), Entity(0, 6, "dis", "a")],
    ):
        scores = score_entities(gold, [preds])
        assert scores["per_type"]["dis"]["correct"] == 1 and scores["per_type"]["dis"]["partial"] == 1
