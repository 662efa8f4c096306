"""Continued pretraining: the author's prose cut into blocks, a LoRA causal-LM pass, and SFT
training that same adapter on (in one process, the way benchmarks build the trainers; the Ray
Train loops around them are tests/test_train.py's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.datasets.corpus import write_corpus
from twin.datasets.instructions import offline_instruction
from twin.datasets.samples import candidates_of
from twin.demo.content import load_pieces
from twin.settings import Settings
from twin.train.pretrain import build_pretrain_trainer, pretrain_config, token_blocks
from twin.train.sft import build_sft_trainer, sft_config

MAX_LENGTH = 64


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Both set: the run config reads nothing from a Ray cluster.
    return Settings(home=tmp_path_factory.mktemp("pretrain"), train={
        "cpus_per_worker": 2, "use_gpu": False, "batch_size": 2, "max_length": MAX_LENGTH,
        "lora_r": 4, "lora_alpha": 8, "seed": 7})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dataset version of the demo author's writing: corpus and SFT samples."""
    folder = tmp_path_factory.mktemp("dataset")
    pieces = [p for p in load_pieces() if p.kind != "repository"][:3]
    write_corpus(folder, [{"id": str(i), "author_id": "maya", "text": p.body}
                          for i, p in enumerate(pieces)])
    with (folder / "train.jsonl").open("w") as handle:
        for i, piece in enumerate(pieces):
            doc = {"id": str(i), "author_id": "maya", "platform": piece.platform,
                   "kind": piece.kind, "title": piece.title, "text": piece.body}
            for candidate in candidates_of(doc, 30, 60, 0.5)[0][:2]:
                sample = candidate.as_dict()
                handle.write(json.dumps({**sample, "instruction": offline_instruction(sample),
                                         "context": []}) + "\n")
    return folder


def _lora(model) -> dict[str, object]:
    """The LoRA weights by name, without the adapter name peft inserts."""
    return {name.replace(".default", ""): p.detach().clone()
            for name, p in model.named_parameters() if "lora_" in name}


def test_blocks_are_max_length_tokens_of_every_text_each_ended() -> None:
    from transformers import AutoTokenizer

    from twin.llm.models import resolve_base_model

    tokenizer = AutoTokenizer.from_pretrained(
        resolve_base_model(Settings().llm.base_model, Settings().models_dir))
    texts = [p.body for p in load_pieces()[:4]]
    blocks = token_blocks(tokenizer, texts, 100)
    assert all(len(b) == 100 for b in blocks[:-1]) and 1 < len(blocks[-1]) <= 100
    stream = [t for b in blocks for t in b]
    expected = []
    for text in texts:
        expected += tokenizer(text, add_special_tokens=False)["input_ids"]
        expected.append(tokenizer.eos_token_id)
    assert stream == expected
    assert stream.count(tokenizer.eos_token_id) >= len(texts)
    assert tokenizer.decode(blocks[0]).startswith(texts[0][:40])


def test_sft_continues_the_pretrained_adapter(settings: Settings, dataset: Path,
                                              tmp_path: Path) -> None:
    import torch

    config = pretrain_config(settings, dataset, max_steps=2, run="cpt-test")
    assert config["learning_rate"] == settings.train.pretrain_learning_rate
    trainer, _, blocks = build_pretrain_trainer(config, [])
    assert blocks >= 4
    batch = next(iter(trainer.get_train_dataloader()))
    # Loss on every token of a block: labels are the inputs (nothing masked but padding).
    labels, inputs = batch["labels"], batch["input_ids"]
    assert inputs.shape[1] == MAX_LENGTH
    assert torch.equal(labels[labels != -100], inputs[labels != -100])
    assert (labels != -100).sum() == batch["attention_mask"].sum()
    output = trainer.train()
    assert trainer.state.global_step == 2 and output.training_loss > 0
    adapter = tmp_path / "cpt-adapter"
    trainer.save_model(str(adapter))
    pretrained = _lora(trainer.model)
    assert any(torch.count_nonzero(w) for n, w in pretrained.items() if "lora_B" in n)

    sft, _, samples = build_sft_trainer(
        sft_config(settings, dataset, 1, "sft-test", init_adapter=adapter), [])
    assert samples >= 2
    start = _lora(sft.model)
    assert start.keys() == pretrained.keys()
    # It starts from the pretrained weights, not a fresh adapter (whose B matrices are 0)...
    assert all(torch.equal(start[n], pretrained[n]) for n in start)
    trainable = {n.replace(".default", "") for n, p in sft.model.named_parameters()
                 if p.requires_grad}
    assert trainable == set(start)
    # ...and trains them on.
    sft.train()
    after = _lora(sft.model)
    assert any(not torch.equal(after[n], start[n]) for n in start)


def test_the_version_records_its_recipe_and_the_report_shows_it(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version trained after continued pretraining says so (param and tag
    ``pretrain_steps``, the run's losses); the train stage prints the run; the evaluation
    report's recipes (and its table) show which version had which recipe."""
    from rich.console import Console

    from twin.domain import TrainResult
    from twin.evaluate.recipes import recipes
    from twin.registry import Registry, hyperparameters
    from twin.report import evaluation_tables
    from twin.stages.train import TrainResult as StageResult
    from twin.train.runner import _stage

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    card = {"version": "v1-test", "content_hash": "test",
            "settings": {"dataset": {"context_share": 0.25}}}
    pretrain = {"run": "r-cpt", "adapter": str(adapter), "steps": 2, "losses": [3.1, 2.9],
                "seconds": 5.0, "blocks": 8, "learning_rate": 1e-4}
    plain = TrainResult(adapter_dir=adapter, run="p", losses=[2.0], steps=3,
                        info={"stage": "sft"})
    cpt = TrainResult(adapter_dir=adapter, run="r", losses=[2.0], steps=3,
                      info={"stage": "sft", "pretrain": pretrain})
    registry = Registry(settings)
    v1 = registry.register(plain, hyperparameters(settings, plain, 1, card), "test", card)
    v2 = registry.register(cpt, hyperparameters(settings, cpt, 1, card), "test", card)
    assert (v1.params["pretrain_steps"], v2.params["pretrain_steps"]) == ("0", "2")
    tags = registry.client.get_model_version(registry.name, str(v2.version)).tags
    assert tags["pretrain_steps"] == "2" and v2.metrics["pretrain_final_loss"] == 2.9

    stage = StageResult.model_validate({"sft": _stage(cpt, v2), "serving": None})
    console = Console(record=True, width=120)
    stage.render(console)
    assert "CPT run r-cpt: 2 steps on 8 blocks of the author's text, loss 3.100 -> 2.900" \
        in console.export_text()

    found = recipes([v2, v1])
    assert list(found) == [f"twin-v{v1.version}", f"twin-v{v2.version}"]
    assert found[f"twin-v{v2.version}"] == {
        "stage": "sft", "pretrain_steps": 2, "pretrain_learning_rate": 1e-4, "max_steps": 3,
        "learning_rate": settings.train.learning_rate, "max_length": MAX_LENGTH,
        "context_share": 0.25, "context_tokens": settings.dataset.context_tokens}
    assert found[f"twin-v{v1.version}"]["pretrain_steps"] == 0
    assert found[f"twin-v{v1.version}"]["pretrain_learning_rate"] is None
    # `twin models` shows each version's continued-pretraining steps.
    from typer.testing import CliRunner

    from twin.cli import app
    from twin.settings import reset_settings_cache

    monkeypatch.setenv("TWIN_HOME", str(settings.home_dir))
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()
    try:
        listing = CliRunner().invoke(app, ["models"])
    finally:
        reset_settings_cache()
    assert listing.exit_code == 0 and "CPT steps" in listing.output, listing.output
    cells = [[c.strip() for c in line.strip().strip("│").split("│")]
             for line in listing.output.splitlines() if line.startswith("│")]
    cpt = {row[1]: row[6] for row in cells if len(row) > 6}
    assert cpt == {str(v2.version): "2", str(v1.version): "0"}, listing.output
    report = {"models": ["base"], "samples": 1, "summary": {"base": {}}, "recipes": found}
    console = Console(record=True, width=120)
    for table in evaluation_tables(report):
        console.print(table)
    text = console.export_text()
    assert "CPT steps" in text and f"twin-v{v2.version}" in text
