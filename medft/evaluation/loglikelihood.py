"""Log-likelihood of continuations after a shared context: the engine every choice scorer uses.

A multiple-choice question is one context and several short continuations that differ only
at the end, so the expensive part (the context) is run once per question, and the output
projection (hidden x vocabulary, most of the work for a 262k-vocabulary model like Gemma-3)
and its log-softmax are computed only at the positions whose scores are read:

1. When every continuation of a batch is one token (" A".." D", " yes"/" no"/" maybe"), the
   contexts run once, right-padded and without an attention mask: attention is causal, so
   padding after a row's last token changes nothing before it, and PyTorch's sdpa keeps its
   causal kernel. A padding mask would send long contexts (MedQA's 150-600-token vignettes)
   through a masked path that costs ~2x (perf/bench_long_context.py). One vocabulary row per
   question, at its last real token, gives every continuation's score.
2. Otherwise the contexts run left-padded with explicit positions and `logits_to_keep=1`, the
   context's KV cache is repeated once per continuation and the continuation tokens except the
   last run on top of it; their logits score tokens 2..n.

The numbers equal a plain forward over context + continuation, as lm-evaluation-harness
computes it (tests check this against a hand-computed sum on a random model).

Prompt-learning adapters (prompt tuning, p-tuning, prefix tuning) break both tricks: peft
prepends their virtual tokens on every call (again on the cached second pass) or replaces
`past_key_values` with the prefix, and it drops explicit `position_ids` for prompt tuning,
so left padding would shift positions. Those models are scored by one plain forward over
context + continuation per option, right-padded (causal attention: padding on the right
changes nothing before it), keeping only the logits of the continuation positions.

Encoder-decoder models (T5) take the context as the encoder's input and score each continuation
on the decoder (`medft.evaluation.seq2seq_loglikelihood`).
"""

from __future__ import annotations

from dataclasses import dataclass

from medft.evaluation.padding import padded
from medft.evaluation.seq2seq_loglikelihood import encoder_decoder_pass
from medft.models.packed_linear import packed_linear_weights
from medft.models.seq2seq import is_encoder_decoder


@dataclass(frozen=True)
class Request:
    context: list[int]  # token ids, non-empty
    continuations: list[list[int]]  # token ids of each choice, each non-empty


def left_padded(batch_ids: list[list[int]], pad_id: int):
    input_ids, attention = padded(batch_ids, pad_id, left=True)
    # Explicit positions: left padding must not shift the real tokens' positions.
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, positions


def truncate(request: Request, max_len: int) -> Request:
    """Drop context tokens from the left so context + longest continuation fits `max_len`
    (what the harness does); a continuation itself is never cut."""
    longest = max(len(c) for c in request.continuations)
    keep = max(1, max_len - longest)
    if len(request.context) <= keep:
        return request
    return Request(request.context[-keep:], request.continuations)


def _continuation_pass(model, cache, attention, lengths, owner, continuations, pad_id, device):
    """Log-probs of continuation tokens 2..n, predicted from tokens 1..n-1 on top of the cache."""
    import torch

    inputs = [c[:-1] for c in continuations]
    ids, mask = padded([ids or [pad_id] for ids in inputs], pad_id, left=False)
    mask[[i for i, c in enumerate(inputs) if not c]] = 0
    cache.reorder_cache(owner.to(device))  # row r continues context owner[r]
    positions = lengths[owner][:, None] + torch.arange(ids.shape[1])[None, :]
    logits = model(
        input_ids=ids.to(device),
        attention_mask=torch.cat([attention[owner], mask], 1).to(device),
        position_ids=positions.to(device),
        past_key_values=cache,
        use_cache=True,
    ).logits
    targets, target_mask = padded([c[1:] or [pad_id] for c in continuations], pad_id, left=False)
    target_mask[[i for i, c in enumerate(continuations) if len(c) == 1]] = 0
    logprobs = torch.log_softmax(logits.float(), dim=-1)  # inputs and targets have equal widths
    picked = logprobs.gather(-1, targets[..., None].to(device))[..., 0].cpu()
    return (picked * target_mask).sum(-1)


def _last_position_pass(model, chunk: list[Request], pad_id: int, device):
    """Step 1 of the module docstring: right-padded contexts, no mask, logits at each last real token."""
    import torch

    ids, _ = padded([r.context for r in chunk], pad_id, left=False)
    last = torch.tensor([[len(r.context) - 1] for r in chunk])
    logits = model(input_ids=ids.to(device), use_cache=False, logits_to_keep=last.to(device)).logits
    return torch.log_softmax(logits[:, 0, :].float(), dim=-1).cpu()


def _shared_context_passes(model, chunk: list[Request], pad_id: int, device, causal_padding: bool = True):
    """Steps 1 and 2 of the module docstring: each context once, the continuations on its cache.
    `causal_padding=False`: step 2's masked left-padded pass even for one-token continuations (tests)."""
    import torch

    owner = torch.tensor([row for row, r in enumerate(chunk) for _ in r.continuations])
    continuations = [c for r in chunk for c in r.continuations]
    needs_second_pass = any(len(c) > 1 for c in continuations)
    if not needs_second_pass and causal_padding:
        first = _last_position_pass(model, chunk, pad_id, device)
        return first[owner, torch.tensor([c[0] for c in continuations])]
    ids, attention, positions = left_padded([r.context for r in chunk], pad_id)
    out = model(
        input_ids=ids.to(device),
        attention_mask=attention.to(device),
        position_ids=positions.to(device),
        use_cache=needs_second_pass,
        logits_to_keep=1,
    )
    first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).cpu()
    totals = first[owner, torch.tensor([c[0] for c in continuations])]
    if needs_second_pass:
        totals = totals + _continuation_pass(
            model, out.past_key_values, attention, attention.sum(-1), owner, continuations, pad_id, device
        )
    return totals


def virtual_positions(model) -> int | None:
    """None unless `model` is a peft prompt-learning model; then how many positions its virtual tokens
    add to the logits (prompt tuning, p-tuning: all of them; prefix tuning: none, they sit in the cache)."""
    config = getattr(model, "active_peft_config", None)
    if config is None or not config.is_prompt_learning:
        return None
    return 0 if config.peft_type == "PREFIX_TUNING" else config.num_virtual_tokens


def _full_sequence_pass(model, chunk: list[Request], pad_id: int, device, offset: int):
    """Summed log-probs of every continuation from one right-padded forward over context + continuation."""
    import torch

    pairs = [(r.context, c) for r in chunk for c in r.continuations]
    ids, mask = padded([context + continuation[:-1] for context, continuation in pairs], pad_id, left=False)
    targets, target_mask = padded([continuation for _, continuation in pairs], pad_id, left=False)
    # Row r's token j is predicted at position len(context) - 1 + j (+ the virtual tokens before the input);
    # transformers keeps only those rows of the logits (a 2-D logits_to_keep), padding rows point at 0.
    starts = torch.tensor([len(context) - 1 + offset for context, _ in pairs])
    keep = (starts[:, None] + torch.arange(targets.shape[1])[None, :]) * target_mask
    logits = model(
        input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False, logits_to_keep=keep.to(device)
    ).logits
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None].to(device))[..., 0].cpu()
    return (picked * target_mask).sum(-1)


def continuation_logprobs(
    model, requests: list[Request], pad_id: int, batch_size: int = 16, progress=None, causal_padding: bool = True
) -> list[list[float]]:
    """Summed log-probability of each continuation given its context, per request.
    `causal_padding=False`: the masked left-padded pass for one-token choices too (what perf/ compares)."""
    import torch

    if not requests:
        return []
    device = next(model.parameters()).device
    offset = virtual_positions(model)
    encoder_decoder = is_encoder_decoder(
        model
    )  # T5: the context is the encoder's, medft.evaluation.seq2seq_loglikelihood
    # Longest first: the first batch shows at once whether memory suffices (the harness's order).
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].context))
    results: list[list[float]] = [[] for _ in requests]
    with torch.no_grad(), packed_linear_weights(model):
        for start in range(0, len(order), batch_size):
            chunk = [requests[i] for i in order[start : start + batch_size]]
            if encoder_decoder:
                totals = encoder_decoder_pass(model, chunk, pad_id, device)
            elif offset is None:
                totals = _shared_context_passes(model, chunk, pad_id, device, causal_padding)
            else:
                totals = _full_sequence_pass(model, chunk, pad_id, device, offset)
            cursor = 0
            for index, request in zip(order[start : start + batch_size], chunk):
                results[index] = totals[cursor : cursor + len(request.continuations)].tolist()
                cursor += len(request.continuations)
            if progress is not None:
                progress.update(len(chunk))
    return results
