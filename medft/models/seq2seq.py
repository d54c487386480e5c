"""Encoder-decoder (seq2seq) models beside decoder-only ones: which class loads a model config, and
whether a loaded model has an encoder. Every path that differs (loading, the trainer, scoring,
generation) asks these two functions, so the rest of medft stays architecture-blind."""

from __future__ import annotations


def is_seq2seq(model_cfg) -> bool:
    """`model.architecture=seq2seq`; a run saved before the key existed is decoder-only."""
    return model_cfg.get("architecture", "causal") == "seq2seq"


def language_model_class(model_cfg):
    """transformers' auto class for the model's language-model head."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if is_seq2seq(model_cfg) else AutoModelForCausalLM


def is_encoder_decoder(model) -> bool:
    """A loaded model (a peft wrapper included) whose prompt goes to an encoder, not the decoder."""
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def with_eos(ids: list[int], eos_id: int | None) -> list[int]:
    """`ids` ending in eos: T5's tokenizer closes every encoder input and every target with </s>, and
    training, scoring and generation must hand the encoder the same sequence."""
    if eos_id is None or (ids and ids[-1] == eos_id):
        return list(ids)
    return [*ids, eos_id]


def prompt_ids(model, ids: list[int], eos_id: int | None) -> list[int]:
    """The ids `model.generate` takes for a prompt: an encoder's input ends in eos (see `with_eos`)."""
    return with_eos(ids, eos_id) if is_encoder_decoder(model) else list(ids)


def generated_ids(model, output, prompt_width: int):
    """The new tokens of `model.generate`'s output rows: a decoder-only model returns the prompt and its
    continuation, an encoder-decoder only the decoder's sequence, after its start token."""
    return output[:, 1:] if is_encoder_decoder(model) else output[:, prompt_width:]
