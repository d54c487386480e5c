"""Stacking token sequences of different lengths into one batch, as both log-likelihood engines do."""

from __future__ import annotations


def padded(batch_ids: list[list[int]], pad_id: int, left: bool):
    """Stack sequences into (ids, attention mask), padding on the left or the right."""
    import torch

    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
        attention[row, span] = 1
    return input_ids, attention
