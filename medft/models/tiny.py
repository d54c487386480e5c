"""A tiny random language model (decoder-only, or a T5 encoder-decoder) and a byte-level tokenizer,
built in-process for tests (no files)."""

from __future__ import annotations

from medft.prompts import CHATML_TEMPLATE

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]


def build_byte_tokenizer():
    """Every UTF-8 byte is a token (256) plus ChatML specials: real tokenization, zero files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token=None,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _causal_config(arch, tokenizer):
    from transformers import AutoConfig

    return AutoConfig.for_model(
        arch.model_type,
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.n_layers,
        num_attention_heads=arch.n_heads,
        num_key_value_heads=arch.n_kv_heads,
        tie_word_embeddings=arch.tie_word_embeddings,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _seq2seq_config(arch, tokenizer):
    """A T5 (Flan-T5's layout: gated-GELU MLP) under the same sizes; the decoder starts from pad, as T5's does."""
    from transformers import AutoConfig

    return AutoConfig.for_model(
        arch.model_type,
        vocab_size=arch.vocab_size,
        d_model=arch.hidden_size,
        d_ff=arch.intermediate_size,
        d_kv=arch.get("head_dim") or arch.hidden_size // arch.n_heads,
        num_layers=arch.n_layers,
        num_decoder_layers=arch.get("n_decoder_layers") or arch.n_layers,
        num_heads=arch.n_heads,
        feed_forward_proj="gated-gelu" if arch.get("mlp", "gated") == "gated" else "relu",
        tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,  # unused by T5; set so transformers does not align it on every load
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def build_tiny_random(arch, seed: int, architecture: str = "causal"):
    """(random model, byte tokenizer) of `arch`'s sizes: a decoder-only model, or a T5 for `seq2seq`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    tokenizer = build_byte_tokenizer()
    if arch.vocab_size < len(tokenizer):
        raise ValueError(f"model.arch.vocab_size {arch.vocab_size} < tokenizer size {len(tokenizer)}")
    seq2seq = architecture == "seq2seq"
    config = (_seq2seq_config if seq2seq else _causal_config)(arch, tokenizer)
    torch.manual_seed(seed)
    model_class = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = model_class.from_config(config, dtype=torch.float32)
    if seq2seq:
        # T5 ties its output head to the embeddings and starts decoding from pad: at random weights greedy
        # decoding then repeats pad forever, and a test of generation sees empty text. A zero pad row lets
        # the encoded prompt pick the first token.
        with torch.no_grad():
            model.get_input_embeddings().weight[tokenizer.pad_token_id] = 0
    return model, tokenizer
