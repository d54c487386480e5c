"""Encoder-decoder models (model.architecture=seq2seq): the Flan-T5 configs compose and plan, and a tiny
random T5 built in-process trains with LoRA, scores multiple choice on its decoder and generates."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY

from medft.config.compose import compose_train
from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.data.records import Record
from medft.evaluation.loglikelihood import Request, continuation_logprobs
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.hardware.planner import parameter_counts, plan_training
from medft.models.tiny import build_tiny_random

FLAN = ("flan-t5-small", "flan-t5-base", "flan-t5-large")
T5_RUN = [*TINY, "model=tiny-random-t5", "optimizer.lr=1e-2", "eval.before=false", "dataset.eval_limit=4"]
RECORDS = [
    Record(question="Antidote for opioids?", answer="naloxone", options=("naloxone", "flumazenil"), answer_index=0),
    Record(
        question="Koplik spots indicate?",
        answer="measles",
        context="A child has a rash.",
        options=("rubella", "measles", "scarlet fever"),
        answer_index=1,
    ),
]


@pytest.fixture(scope="module")
def tiny_t5():
    cfg = compose_train(["model=tiny-random-t5"])
    model, tokenizer = build_tiny_random(cfg.model.arch, seed=0, architecture="seq2seq")
    return model.eval(), tokenizer


@pytest.mark.parametrize("name", FLAN)
def test_flan_t5_configs_compose_validate_and_plan(name):
    cfg = compose_train([f"model={name}", "peft_method=lora"])
    assert cfg.model.architecture == "seq2seq" and cfg.model.hub_id == f"google/{name}"
    validate(cfg, dry_run=True)
    counts = parameter_counts(cfg.model.arch)  # every weight of both stacks counted, norms and biases left over
    assert 0 < counts["other"] < 0.001 * cfg.model.arch.n_params
    assert plan_training(cfg).total_bytes > cfg.model.arch.n_params * 4  # fp32 weights at least


def test_lora_parameters_planned_equal_those_peft_creates(tiny_t5):
    from peft import get_peft_model

    from medft.builders import peft_config
    from medft.hardware.planner import trainable_adapter_params

    cfg = compose_train(["model=tiny-random-t5", "peft_method.target_modules=[q,v,wi_0,wo]"])
    model, _ = build_tiny_random(cfg.model.arch, seed=0, architecture="seq2seq")
    peft_model = get_peft_model(model, peft_config(cfg.peft_method, cfg.model, task="SEQ_2_SEQ_LM"))
    assert trainable_adapter_params(cfg) == peft_model.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize(
    "override,key",
    [("objective=dpo", "objective=dpo"), ("peft_method=prompt_tuning", "peft_method=prompt_tuning")],
)
def test_what_needs_one_causal_sequence_is_refused_for_seq2seq(override, key):
    with pytest.raises(ConfigError, match=key):
        validate(compose_train(["model=tiny-random-t5", override]))


def test_option_score_is_the_decoders_summed_token_logprobs(tiny_t5):
    model, tokenizer = tiny_t5
    eos, start = tokenizer.eos_token_id, model.config.decoder_start_token_id
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("Which drug?", "Dose in mg", "ok")]
    requests = [Request(ids[0], [ids[1], ids[2], ids[2][:1]]), Request(ids[1] + ids[0], [ids[0]])]
    scores = continuation_logprobs(model, requests, tokenizer.pad_token_id, batch_size=2)
    for request, got in zip(requests, scores):
        for continuation, score in zip(request.continuations, got):
            with torch.no_grad():  # one unpadded pair: the encoder reads context + eos, the decoder the option
                logits = model(
                    input_ids=torch.tensor([request.context + [eos]]),
                    decoder_input_ids=torch.tensor([[start, *continuation[:-1]]]),
                ).logits[0]
            direct = sum(float(torch.log_softmax(logits, -1)[j, t]) for j, t in enumerate(continuation))
            assert score == pytest.approx(direct, abs=1e-4)


@pytest.mark.parametrize("formulation", ["cloze", "letter"])
def test_multiple_choice_is_scored_on_the_decoder(tiny_t5, formulation):
    model, tokenizer = tiny_t5
    scored = score_multiple_choice(model, tokenizer, RECORDS, None, 256, formulation=formulation)
    for record, result in zip(RECORDS, scored):
        assert len(result.logprobs) == len(record.options) and all(x < 0 for x in result.logprobs)
        assert result.predicted == max(range(len(record.options)), key=lambda k: result.logprobs[k])


def test_batched_generation_equals_one_prompt_at_a_time(tiny_t5):
    from medft.evaluation.generative import generate_answers

    model, tokenizer = tiny_t5
    texts = ["What does insulin do?", "Why?", "Name a beta blocker used after a heart attack."]
    batched = generate_answers(model, tokenizer, texts, max_new_tokens=5, batch_size=3)
    alone = [generate_answers(model, tokenizer, [t], max_new_tokens=5, batch_size=1)[0] for t in texts]
    assert batched == alone and any(batched)


@pytest.fixture(scope="module")
def t5_run(tmp_path_factory):
    from omegaconf import OmegaConf

    from medft.recipes.train import run

    root = tmp_path_factory.mktemp("t5-run")
    cfg = compose_train([*T5_RUN, f"cache_dir={root / 'cache'}", f"output_root={root}"])
    run_dir = root / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return run_dir, run(cfg, run_dir)


def test_tiny_t5_trains_with_lora_and_its_adapter_reloads(t5_run):
    from medft.run.saved_model import load_run

    run_dir, metrics = t5_run
    assert metrics["train"]["steps"] == 2 and torch.isfinite(torch.tensor(metrics["train"]["train_loss"]))
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["task_type"] == "SEQ_2_SEQ_LM"
    assert 0 < metrics["train"]["trainable_params"] < metrics["train"]["total_params"]
    model, tokenizer, _ = load_run(run_dir, merge=False)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().max()) > 0 for p in lora_b)  # trained: B starts at zero
    # The reloaded adapter scores the test set as the run did just after training.
    from medft.data.load import evaluation_sets, load_splits

    cfg = compose_train([*T5_RUN, f"cache_dir={run_dir.parent / 'cache'}"])
    test = evaluation_sets(load_splits(cfg.dataset), cfg.dataset.eval_limit)["test"]
    scored = score_multiple_choice(model, tokenizer, test, None, cfg.training.max_seq_len)
    assert sum(s.correct for s in scored) / len(scored) == pytest.approx(metrics["eval_after"]["test"]["acc"])


def test_a_trained_t5_answers_through_generate(t5_run):
    from medft.config.compose import compose_named
    from medft.prompts import chat_prompt
    from medft.recipes.generate import load_for_generation, reply

    cfg = compose_named("generate", [f"run_dir={t5_run[0]}", "sampling.max_new_tokens=6"])
    bot = load_for_generation(cfg)
    turns = [{"role": "user", "content": "What does insulin do?"}]
    answer = reply(bot, turns, cfg.sampling)
    # The same answer as generate() called by hand on the encoder input (the prompt + eos), minus the start token.
    tokenizer = bot.tokenizer
    ids = tokenizer(chat_prompt(tokenizer, turns, bot.system_prompt), add_special_tokens=False)["input_ids"]
    output = bot.model.generate(
        input_ids=torch.tensor([ids + [tokenizer.eos_token_id]]), max_new_tokens=6, do_sample=False
    )
    assert output[0, 0] == bot.model.config.decoder_start_token_id and output.shape[1] > 1
    assert answer == tokenizer.decode(output[0, 1:], skip_special_tokens=True).strip()


def test_truncation_counts_the_longer_side_of_a_seq2seq_pair():
    from medft.models.tiny import build_byte_tokenizer
    from medft.objectives.sft_seq2seq import encode_pair
    from medft.objectives.truncation import _lengths

    tokenizer, record = build_byte_tokenizer(), RECORDS[1]
    for model in ("tiny-random", "tiny-random-t5"):
        cfg = compose_train([f"model={model}"])
        (length,) = _lengths(cfg, [record], tokenizer)
        if model == "tiny-random":
            causal = length
        else:
            source, target, _ = encode_pair(tokenizer, record, None, 10**9)
            assert length == max(len(source), len(target)) == len(source) < causal  # the prompt is the longer side


def test_a_t5_run_exports_merged_and_refuses_the_decoder_only_formats(t5_run, tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    from medft.config.compose import compose_named
    from medft.config.errors import UserError
    from medft.recipes.export import run as export

    run_dir = t5_run[0]
    with pytest.raises(UserError, match="use format=merged"):
        export(compose_named("export", [f"run_dir={run_dir}", "format=onnx"]))
    out = export(compose_named("export", [f"run_dir={run_dir}", "format=merged", f"out={tmp_path / 'merged'}"]))
    assert AutoModelForSeq2SeqLM.from_pretrained(out).config.is_encoder_decoder
    assert "model = AutoModelForSeq2SeqLM.from_pretrained(" in (out / "README.md").read_text()  # the card's usage
