"""Automatic hyperparameters with reasons, estimates, and refusals before anything starts."""
import pytest

from models.finetune import JobRefused, plan_job
from tests.finetune_helpers import chat_rows, sentiment_rows, tiny_chat_model, tiny_encoder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(tiny_encoder(tmp_path_factory.mktemp("tiny-bert")))


@pytest.fixture(scope="module")
def tiny_chat(tmp_path_factory):
    return str(tiny_chat_model(tmp_path_factory.mktemp("tiny-chat")))


def test_every_choice_has_a_reason_and_overrides_win(tiny_bert):
    plan = plan_job("classifier", sentiment_rows(100), base=tiny_bert, device="cpu",
                    overrides={"learning_rate": 1e-3, "epochs": 1})
    assert plan.fits and plan.train_rows == 80 and plan.eval_rows == 20
    assert all(choice.reason for choice in plan.choices.values())
    assert plan.choices["learning_rate"].value == 1e-3 and plan.choices["learning_rate"].reason == "set by you"
    assert plan.choices["epochs"].value == 1
    assert plan.total_steps == plan.steps_per_epoch
    assert plan.estimate_seconds > 0 and plan.peak_memory_mb > 0
    assert plan.labels == ["negative", "positive"]
    assert {"max_length", "batch_size", "warmup_ratio", "eval_steps", "save_steps",
            "early_stopping_patience", "validation_split"} <= set(plan.choices)
    assert plan.to_dict()["choices"]["epochs"]["reason"] == "set by you"


def test_max_length_follows_the_token_lengths(tiny_bert):
    rows = sentiment_rows(60) + [{"text": "word " * 400, "label": "positive"}]
    plan = plan_job("classifier", rows, base=tiny_bert, device="cpu")
    assert plan.choices["max_length"].value <= 32
    assert any("truncated" in w for w in plan.warnings)


def test_refusals(tiny_bert, tiny_chat, tmp_path):
    with pytest.raises(JobRefused, match="empty"):
        plan_job("classifier", [], base=tiny_bert, device="cpu")
    with pytest.raises(JobRefused, match="single label"):
        plan_job("classifier", [{"text": f"t{i}", "label": "a"} for i in range(10)], base=tiny_bert, device="cpu")
    with pytest.raises(JobRefused, match="no base model named"):
        plan_job("classifier", sentiment_rows(20), base="no-such-model", device="cpu")
    with pytest.raises(JobRefused, match="chat model"):
        plan_job("classifier", sentiment_rows(20), base=tiny_chat, device="cpu")
    long_chat = chat_rows(10) + [{"messages": [{"role": "user", "content": "hi " * 400},
                                               {"role": "assistant", "content": "ok"}]}]
    with pytest.raises(JobRefused, match="longer than the model's context"):
        plan_job("chat", long_chat, base=tiny_chat, device="cpu")


def test_chat_plan_picks_full_for_small_models_and_respects_lora(tiny_chat):
    plan = plan_job("chat", chat_rows(30), base=tiny_chat, device="cpu")
    assert plan.choices["lora"].value is False and "small enough" in plan.choices["lora"].reason
    plan = plan_job("chat", chat_rows(30), base=tiny_chat, device="cpu", overrides={"lora": True})
    assert plan.choices["lora"].value is True and plan.choices["learning_rate"].value == 2e-4
    assert plan.objective == "causal-lm"


def test_a_job_that_cannot_fit_says_what_to_change(tiny_chat, monkeypatch):
    from models.finetune import plan as plan_module

    monkeypatch.setattr(plan_module, "available_memory_mb", lambda device: 50.0)
    plan = plan_job("chat", chat_rows(30), base=tiny_chat, device="cpu")
    assert not plan.fits
    assert plan.choices["batch_size"].value == 1 and plan.choices["gradient_checkpointing"].value is True
    assert any("LoRA" in advice for advice in plan.advice)


def test_pretrain_on_an_encoder_is_masked_lm(tiny_bert):
    rows = [{"text": "Otters hold hands while they sleep. " * 20}, {"text": "Beavers build dams. " * 20}]
    plan = plan_job("pretrain", rows * 5, base=tiny_bert, device="cpu")
    assert plan.objective == "masked-lm" and plan.choices["max_length"].value <= 128
