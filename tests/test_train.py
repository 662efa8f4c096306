"""LoRA SFT on Ray Train with the real base model (a few steps on the tiny path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.settings import Settings
from twin.train.sft import train_sft

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

SAMPLES = [
    ("Write a LinkedIn post about null values.",
     "NULL means we don't know.\n\n→ 0 means we know, and it's nothing\n\n#DataQuality"),
    ("Write a LinkedIn post about on-call handoffs.",
     "Every handoff note has four lines.\n\n→ what broke\n→ what I tried\n\n#OnCall"),
    ("Write a LinkedIn post about dashboards.",
     "We deleted 63 dashboards in Venlo.\n\n→ nobody noticed\n\n#DataEngineering"),
    ("Write a LinkedIn post about Spark.",
     "You don't need Spark for 3 GB.\n\n→ one machine is fine\n\n#DataEngineering"),
]


@pytest.fixture(scope="module")
def tmp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train")


def test_lora_sft_learns_and_saves_adapter_with_chat_template(tmp_home: Path) -> None:
    tmp_path = tmp_home
    data = tmp_path / "dataset"
    data.mkdir()
    with (data / "train.jsonl").open("w") as handle:
        for instruction, answer in SAMPLES:
            handle.write(json.dumps({"instruction": instruction, "answer": answer}) + "\n")
    settings = Settings(home=tmp_path / "home", train={
        "learning_rate": 2e-3, "batch_size": 4, "max_length": 96, "lora_r": 8,
        "cpus_per_worker": 1.5})
    result = train_sft(settings, data, max_steps=10, run_name="tiny")
    assert result.steps == 10 and len(result.losses) == 10
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 * 0.8  # it learned
    adapter = result.adapter_dir
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    tokenizer_config = json.loads((adapter / "tokenizer_config.json").read_text())
    template = (tokenizer_config.get("chat_template")
                or (adapter / "chat_template.jinja").read_text())
    assert "<|im_start|>" in template  # SmolLM2's own template, saved for serving
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj",
                                                                 "o_proj"}


def test_dpo_starts_from_the_sft_adapter_and_prefers_the_author(tmp_home: Path) -> None:
    from twin.train.dpo import train_dpo

    pairs = tmp_home / "pairs"
    pairs.mkdir()
    with (pairs / "train.jsonl").open("w") as handle:
        for instruction, answer in SAMPLES:
            handle.write(json.dumps({"prompt": instruction, "chosen": answer,
                                     "rejected": "As an AI, I think data is very important "
                                                 "for businesses in today's world."}) + "\n")
    settings = Settings(home=tmp_home / "home", train={
        "dpo_learning_rate": 1e-3, "batch_size": 4, "max_length": 96, "lora_r": 8,
        "cpus_per_worker": 1.5})
    sft = tmp_home / "home" / "train" / "tiny" / "adapter"
    assert sft.exists(), "runs after the SFT test in this module"
    result = train_dpo(settings, sft, pairs, max_steps=6, run_name="tiny-dpo")
    assert result.steps == 6 and len(result.losses) == 6
    assert result.losses[-1] < result.losses[0]  # DPO loss starts at log(2) and falls
    info = json.loads((result.adapter_dir / "training.json").read_text())
    assert info["sft_adapter"] == str(sft) and info["reward_margins"][-1] > 0
    assert (result.adapter_dir / "adapter_model.safetensors").exists()
