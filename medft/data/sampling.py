"""Batches of similar length in a random order (`training.group_by_length=true`, the default).

transformers' `LengthGroupedSampler` cuts a random permutation into mega-batches of up to 50
batches and sorts each mega-batch longest first. That saves the padding, but the order of the
batches is then by length: the first steps of every mega-batch see its longest examples, the
last its shortest. Over a whole epoch that evens out; over a short run, or the first hundred
steps of a long one, it does not. Measured with `perf/bench_train.py` (SmolLM2, builtin
data, 10 steps, 3 seeds): after training, medft's loss on a fixed set of 64 training examples
was 2.216 against plain TRL's 2.088-2.090 with random batches, while with random batches in
medft too the two were identical seed for seed. The length order, not the grouping, was the
difference.

So the batches are formed exactly as transformers forms them (its `get_length_grouped_indices`),
then shuffled as whole batches (the batch of the longest example stays first, so an
out-of-memory error still comes at once). Each optimizer step (micro-batch x accumulation, as
transformers groups) is one group of similar lengths, and the sequence of steps is a random
draw over the whole dataset, like random batches.
"""

from __future__ import annotations

from torch.utils.data import Sampler


class ShuffledLengthGroups(Sampler):
    """The indices of transformers' length-grouped order, regrouped into its batches and shuffled by batch."""

    def __init__(self, grouped):  # a transformers LengthGroupedSampler
        self.lengths, self.batch_size, self.generator = grouped.lengths, grouped.batch_size, grouped.generator

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        indices = get_length_grouped_indices(self.lengths, self.batch_size, generator=self.generator)
        batches = [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        # Batch 0 holds the longest example (transformers puts it there) and stays first; a short last
        # batch stays last, or every batch after it would straddle two groups.
        last = len(batches) - 1 if len(batches) > 1 and len(batches[-1]) < self.batch_size else len(batches)
        middle = [1 + i for i in torch.randperm(max(0, last - 1), generator=self.generator).tolist()]
        order = [0] + middle + list(range(last, len(batches)))
        return iter([i for b in order for i in batches[b]])


def shuffle_length_groups(trainer):
    """Make `trainer` (any transformers/TRL trainer) draw its length-grouped batches in a random order."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    if trainer.args.train_sampling_strategy != "group_by_length":
        return trainer
    original = trainer._get_train_sampler

    def train_sampler(train_dataset=None):
        sampler = original(train_dataset)
        return ShuffledLengthGroups(sampler) if isinstance(sampler, LengthGroupedSampler) else sampler

    trainer._get_train_sampler = train_sampler  # applied twice, the outer wrap passes the shuffled sampler through
    return trainer
