"""objective=sft: TRL's SFTTrainer on the rendered prompt/answer pairs, loss on the answer only."""

from __future__ import annotations


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from medft import builders
    from medft.recipe import tokenize_split

    train_data, truncated = tokenize_split(splits["train"], tokenizer, cfg)
    eval_data = tokenize_split(validation, tokenizer, cfg)[0] if validation else None
    trainer = builders.sft_trainer(cfg, model, tokenizer, train_data, output_dir, callbacks, eval_data=eval_data)
    return trainer, truncated
