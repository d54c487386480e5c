"""PHI scrubbing as a transform (`dataset.transforms=[scrub_phi]`): every text of every split that
reaches the model (text_fields.model_texts: system turns and rejected answers included) through
medft.data.phi.scrub, so a notes dataset that carries identifiers can train. Listed first, it
also keeps later transforms from seeing identifiers."""

from __future__ import annotations

from collections import Counter

from medft.data import phi
from medft.data.transforms.text_fields import rewrite


def apply(splits: dict, dataset_cfg, seed: int) -> tuple[dict, dict]:
    kinds: Counter = Counter()

    def scrub(text: str) -> str:
        spans = phi.scan(text)
        kinds.update(span.kind for span in spans)
        return phi.scrub(text, spans)

    out = {}
    for name, records in splits.items():
        # Two options may read the same once scrubbed (two dates): privacy wins over the item.
        out[name] = [rewrite(r, scrub, allow_merged_options=True, with_metadata=True) for r in records]
    return out, {"replaced_by_kind": dict(sorted(kinds.items())), "replaced_total": sum(kinds.values())}
