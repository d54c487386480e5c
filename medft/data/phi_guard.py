"""The PHI guard of a run: scan every split for identifiers (medft.data.phi), report kinds and
places, and refuse clinical-note data that carries them.

Notes (a notes dataset kind, `dataset.contains_notes=true`, or `objective=pretrain` on text) are
refused when PHI is found, unless `dataset.transforms` scrubs them (scrub_phi) or the user says
the data may pass (`dataset.phi=allow`, e.g. already de-identified with its own placeholders).
Question-answering benchmarks are only reported: their public text holds years, URLs and
organisations' phone numbers, which are not a patient's. Reports and errors carry kinds, counts
and (file, line), never the matched text.
"""

from __future__ import annotations

import logging
from collections import Counter

from medft.config.errors import UserError
from medft.data import phi
from medft.data.transforms.text_fields import model_texts

log = logging.getLogger(__name__)

NOTE_KINDS = ("notes", "clinical_notes", "mimic_notes", "text")  # dataset.kind values that are notes
MAX_LOCATIONS = 50  # places listed in a report; the counts cover everything


class PhiFoundError(UserError, ValueError):
    """Clinical notes with PHI and no scrubbing configured."""


def holds_notes(cfg) -> bool:
    dataset = cfg.dataset
    objective = cfg.get("objective")
    pretraining = (
        objective is not None and (objective.get("name") if hasattr(objective, "get") else objective) == "pretrain"
    )
    return bool(dataset.get("contains_notes")) or dataset.kind in NOTE_KINDS or pretraining


def scan_splits(splits: dict, source: str | None) -> dict:
    """{"total", "by_kind", "records_with_phi", "locations": [{"file", "line", "split", "kinds", "fields"}]}.
    Every text the model sees is scanned (text_fields.model_texts: the system turn, a rejected answer...)."""
    by_kind: Counter = Counter()
    locations, with_phi = [], 0
    for split, records in splits.items():
        for index, record in enumerate(records):
            kinds, fields = Counter(), []
            for field, text in model_texts(record):
                found = [span.kind for span in phi.scan(text)]
                kinds.update(found)
                fields += [field] if found else []
            if not kinds:
                continue
            with_phi += 1
            by_kind.update(kinds)
            if len(locations) < MAX_LOCATIONS:
                # A line number where the loader kept one; else the record's id; else its place in the split.
                line, record_id = record.metadata.get("line"), record.metadata.get("id")
                where = line if line is not None else f"id {record_id}" if record_id else f"{split} record {index}"
                locations.append(
                    {
                        "file": str(record.metadata.get("source") or source or split),
                        "line": where,
                        "split": split,
                        "kinds": dict(sorted(kinds.items())),
                        "fields": fields,
                    }
                )
    return {
        "total": sum(by_kind.values()),
        "by_kind": dict(sorted(by_kind.items())),
        "records_with_phi": with_phi,
        "locations": locations,
    }


def _where(report: dict) -> str:
    # Field names (question, metadata.system, ...) say where in the record, never what it says.
    places = [f"{loc['file']}:{loc['line']} ({', '.join(loc['fields'])})" for loc in report["locations"][:10]]
    more = report["records_with_phi"] - len(places)
    return ", ".join(places) + (f" and {more} more records" if more > 0 else "")


def guard(cfg, splits: dict) -> dict:
    """Scan; refuse notes with PHI unless scrubbed or allowed. Returns the report (kept in data_stats.json)."""
    report = scan_splits(splits, cfg.dataset.get("path"))
    notes = holds_notes(cfg)
    scrubbed = "scrub_phi" in (cfg.dataset.get("transforms") or [])
    report.update(notes=notes, scrubbed=scrubbed, policy=cfg.dataset.get("phi", "guard"))
    if not report["total"]:
        log.info("PHI guard: nothing found in %s", cfg.dataset.name)
        return report
    kinds = ", ".join(f"{kind} {n}" for kind, n in report["by_kind"].items())
    summary = (
        f"{report['total']} possible PHI spans ({kinds}) in {report['records_with_phi']} records of "
        f"dataset={cfg.dataset.name}, at {_where(report)}"
    )
    if notes and not scrubbed and report["policy"] != "allow":
        raise PhiFoundError(
            f"PHI guard: {summary}. This dataset holds clinical notes, so it does not train as is: "
            "add dataset.transforms=[scrub_phi] to replace them with typed placeholders ([DATE], "
            "[NAME], ...), or pass dataset.phi=allow if the text is already de-identified"
        )
    log.warning(
        "PHI guard: %s (%s)",
        summary,
        "scrubbed by dataset.transforms=[scrub_phi]"
        if scrubbed
        else "reported, not refused: " + ("dataset.phi=allow" if notes else "not clinical notes"),
    )
    return report
