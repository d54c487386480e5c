"""A data fingerprint: one hash over every split's records, recorded in a run's manifest and in
evaluation results so two numbers can be checked to come from the same items."""

from __future__ import annotations

import hashlib
import json


def fingerprint_records(splits: dict) -> str:
    """sha256 over every split's records in order: changes when any text, option or split does."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for record in splits[name]:
            fields = [name, record.question, record.options, record.answer, record.context, record.history]
            if "rejected" in record.metadata:  # a preference pair's other half is data too
                fields.append(record.metadata["rejected"])
            digest.update(json.dumps(fields, default=str).encode())
    return digest.hexdigest()
