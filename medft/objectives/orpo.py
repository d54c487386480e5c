"""objective=orpo: ORPO from `trl.experimental.orpo` (TRL 1.16 moved ORPOTrainer out of the top level;
experimental APIs may change between TRL releases). No reference model: the loss is the SFT loss on
the chosen answer plus beta x the log odds ratio of chosen over rejected.
"""

from __future__ import annotations

from medft import builders
from medft.config.derived import grad_accumulation
from medft.objectives import preference_data as data


def counting_trainer(base):
    """`base` (TRL's ORPOTrainer) counting the tokens it trains on in `state.num_input_tokens_seen`.

    transformers' Trainer counts them per micro-batch in `_track_num_input_tokens(inputs)` from
    `inputs[model.main_input_name]` ("input_ids"), and ORPO's batches have none: they hold
    prompt_/chosen_/rejected_ input_ids and attention masks. The Trainer logs a warning and adds 0,
    so metrics.json `train.tokens` (and tokens_per_s) would read 0. DPO's and KTO's collators emit
    `input_ids` and `attention_mask`, so the Trainer counts theirs itself. Here a step counts what
    ORPO's forward pass reads: prompt + chosen and prompt + rejected, the same two sequences DPO
    counts, with the same rule as the Trainer's (`include_num_input_tokens_seen`, "non_padding" in
    medft: attention-mask ones; "all": every position of the padded tensors; "no": nothing).
    """

    class CountingORPOTrainer(base):
        def _track_num_input_tokens(self, inputs):
            import torch

            mode = self.args.include_num_input_tokens_seen
            if mode == "no" or "chosen_attention_mask" not in inputs:  # encoder-decoder ORPO: the Trainer's rule
                return super()._track_num_input_tokens(inputs)
            masks = (inputs["chosen_attention_mask"], inputs["rejected_attention_mask"])
            count = sum(int(m.sum()) if mode == "non_padding" else m.numel() for m in masks)
            count = torch.as_tensor(count, device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(count).sum().item()

    return CountingORPOTrainer


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    train_pairs, eval_pairs = data.train_and_eval_pairs(cfg, splits, validation)
    train_data, too_long = data.paired_dataset(train_pairs, tokenizer, cfg)
    eval_data = data.paired_dataset(eval_pairs, tokenizer, cfg)[0] if eval_pairs else None
    args = builders.trainer_config(
        ORPOConfig, cfg, output_dir, grad_accumulation(cfg), **data.preference_arguments(cfg)
    )
    trainer = counting_trainer(ORPOTrainer)(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )  # LoRA+, AdaLoRA as in SFT
    return trainer, too_long
