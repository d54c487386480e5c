"""Length-grouped batches in a random order (medft/data/sampling.py)."""

from __future__ import annotations

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from medft.data.sampling import ShuffledLengthGroups, shuffle_length_groups

BATCH = 8


def _batches(order):
    return [order[i : i + BATCH] for i in range(0, len(order), BATCH)]


def _sampler(lengths, seed=0):
    return ShuffledLengthGroups(
        LengthGroupedSampler(BATCH, lengths=lengths, generator=torch.Generator().manual_seed(seed))
    )


def test_the_batches_are_transformers_groups_in_another_order():
    lengths = torch.randint(5, 400, (1003,), generator=torch_gen(1)).tolist()
    ours = list(_sampler(lengths))
    theirs = get_length_grouped_indices(lengths, BATCH, generator=torch.Generator().manual_seed(0))
    assert sorted(ours) == list(range(len(lengths)))  # every example once per epoch
    assert sorted(map(sorted, _batches(ours))) == sorted(map(sorted, _batches(theirs)))  # the same groups
    assert _batches(ours) != _batches(theirs)
    assert max(lengths) in [lengths[i] for i in _batches(ours)[0]]  # the longest batch still comes first
    assert len(_batches(ours)[-1]) == len(lengths) % BATCH  # the short batch last: no group straddles two steps


def test_steps_no_longer_walk_from_long_to_short():
    """transformers' order: within each mega-batch the batches run longest first, so the first steps
    of a run are its long examples. Ours: the first tenth of the steps is like any other tenth."""
    lengths = torch.randint(5, 400, (2000,), generator=torch_gen(2)).tolist()

    def first_tenth_mean(order):
        head = order[: len(order) // 10]
        return sum(lengths[i] for i in head) / len(head)

    overall = sum(lengths) / len(lengths)
    theirs = get_length_grouped_indices(lengths, BATCH, generator=torch.Generator().manual_seed(0))
    assert first_tenth_mean(theirs) > 1.3 * overall
    means = [first_tenth_mean(list(_sampler(lengths, seed))) for seed in range(5)]
    assert abs(sum(means) / len(means) - overall) < 0.15 * overall


def test_every_batch_is_still_of_similar_lengths():
    lengths = torch.randint(5, 400, (1000,), generator=torch_gen(3)).tolist()
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in _batches(list(_sampler(lengths)))]
    assert sum(spread) / len(spread) < 0.1 * 395  # random batches of 8 would spread ~300


def test_the_trainer_draws_through_it(tiny_cfg, tmp_path):
    from medft import builders
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model
    from medft.objectives.sft import tokenize_split

    cfg = tiny_cfg("training.max_steps=1")
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    data, _ = tokenize_split(load_splits(cfg.dataset)["train"][:64], tokenizer, cfg)
    trainer = shuffle_length_groups(builders.sft_trainer(cfg, model, tokenizer, data, tmp_path))
    assert isinstance(trainer._get_train_sampler(), ShuffledLengthGroups)
    plain = builders.sft_trainer(
        tiny_cfg("training.max_steps=1", "training.group_by_length=false"), model, tokenizer, data, tmp_path
    )
    assert not isinstance(shuffle_length_groups(plain)._get_train_sampler(), ShuffledLengthGroups)


def torch_gen(seed):
    return torch.Generator().manual_seed(seed)
