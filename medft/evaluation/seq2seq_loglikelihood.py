"""Log-likelihood of continuations for an encoder-decoder (T5): the context is the encoder's input and
each continuation the decoder's output, so the score of an option is the decoder's summed log-probability
of its tokens given the encoded prompt, starting from the decoder's start token (what T5 trains on).

Each context is encoded once and its encoder states repeated for every continuation; the decoder then
runs once per continuation, right-padded (its causal mask keeps padding from changing any earlier token).
Used by `medft.evaluation.loglikelihood.continuation_logprobs` for every model whose config says
`is_encoder_decoder`; the numbers equal a plain `model(input_ids=context, labels=continuation)` per option
(tests check this against the log-probabilities computed directly).
"""

from __future__ import annotations

from medft.evaluation.padding import padded
from medft.models.seq2seq import with_eos


def encoder_decoder_pass(model, chunk, pad_id: int, device):
    """Summed log-probs of every continuation of the `chunk`'s requests (medft.evaluation.loglikelihood.Request)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    owner = torch.tensor([row for row, r in enumerate(chunk) for _ in r.continuations])
    continuations = [c for r in chunk for c in r.continuations]
    # The encoder's input ends in eos, as in training (medft.objectives.sft_seq2seq) and T5's own tokenizer.
    ids, attention = padded([with_eos(r.context, model.config.eos_token_id) for r in chunk], pad_id, left=False)
    encoded = model.get_encoder()(input_ids=ids.to(device), attention_mask=attention.to(device))
    states = BaseModelOutput(last_hidden_state=encoded.last_hidden_state[owner.to(device)])
    start = model.config.decoder_start_token_id
    decoder_ids, decoder_mask = padded([[start, *c[:-1]] for c in continuations], pad_id, left=False)
    targets, target_mask = padded(continuations, pad_id, left=False)
    logits = model(
        encoder_outputs=states,
        attention_mask=attention[owner].to(device),
        decoder_input_ids=decoder_ids.to(device),
        decoder_attention_mask=decoder_mask.to(device),
        use_cache=False,
    ).logits
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None].to(device))[..., 0].cpu()
    return (picked * target_mask).sum(-1)
