"""LoRA SFT and DPO on Ray Train with the real base model (a few steps on the tiny path):
learning, DeepSpeed ZeRO-2 on CPU workers, resuming an interrupted run, the registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin.settings import Settings
from twin.train.common import TrainError
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
# No cpus_per_worker: the workers take the CPUs the cluster has free (train.cpus_per_worker).
TINY = {"learning_rate": 2e-3, "batch_size": 4, "max_length": 96, "lora_r": 8}


@pytest.fixture(scope="module")
def tmp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    data = root / "dataset"
    data.mkdir()
    with (data / "train.jsonl").open("w") as handle:
        for instruction, answer in SAMPLES:
            handle.write(json.dumps({"instruction": instruction, "answer": answer}) + "\n")
    return root


def test_lora_sft_learns_and_saves_adapter_with_chat_template(tmp_home: Path) -> None:
    settings = Settings(home=tmp_home / "home", train=TINY)
    result = train_sft(settings, tmp_home / "dataset", max_steps=10, run_name="tiny")
    assert result.steps == 10 and len(result.losses) == 10
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 * 0.8  # it learned
    adapter = result.adapter_dir
    assert adapter == settings.home_dir / "adapters" / "tiny"
    assert (adapter / "adapter_config.json").exists()
    assert (adapter / "adapter_model.safetensors").exists()
    tokenizer_config = json.loads((adapter / "tokenizer_config.json").read_text())
    template = (tokenizer_config.get("chat_template")
                or (adapter / "chat_template.jinja").read_text())
    assert "<|im_start|>" in template  # SmolLM2's own template, saved for serving
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    # Checkpoints and the final adapter are in Ray Train's storage path.
    run_dir = settings.home_dir / "train" / "tiny"
    checkpoints = sorted(c for c in run_dir.glob("checkpoint_*") if c.is_dir())
    assert any((c / "checkpoint" / "trainer_state.json").exists() for c in checkpoints)
    assert (checkpoints[-1] / "adapter" / "adapter_model.safetensors").exists()
    assert result.info["resumed_from_step"] == 0 and result.info["tokens_seen"] > 0
    # The worker had the free CPUs, and the run measured itself against the machine.
    assert result.info["cpus_per_worker"] >= 1 and result.info["use_gpu"] is False
    assert 0 < result.info["tokens_per_s"] < result.info["limit_tokens_per_s"]
    assert 0 < result.info["utilisation"] < 1
    # Training the same (finished) run again is refused with a clear message.
    with pytest.raises(TrainError, match="already finished"):
        train_sft(settings, tmp_home / "dataset", max_steps=10, run_name="tiny")


def test_continued_pretraining_then_sft_on_the_same_adapter(tmp_home: Path) -> None:
    """train.pretrain_steps: a CPT run on the dataset's corpus, then SFT from its adapter; the
    version records it (the in-process details: tests/test_pretrain.py)."""
    from twin.datasets.corpus import write_corpus
    from twin.registry import Registry
    from twin.train.runner import train_and_register

    write_corpus(tmp_home / "dataset", [{"id": str(i), "author_id": "maya", "text": answer}
                                        for i, (_, answer) in enumerate(SAMPLES)])
    settings = Settings(home=tmp_home / "home-cpt", train={**TINY, "pretrain_steps": 2})
    summary = train_and_register(settings, tmp_home / "dataset", max_steps=2, workers=1,
                                 run_name="with-cpt")
    cpt = summary["sft"]["pretrain"]
    assert cpt["run"] == "with-cpt-cpt" and cpt["steps"] == 2 and len(cpt["losses"]) == 2
    assert cpt["adapter"] == str(settings.home_dir / "adapters" / "with-cpt-cpt")
    info = json.loads((settings.home_dir / "adapters" / "with-cpt" / "training.json")
                      .read_text())
    assert info["init_adapter"] == cpt["adapter"] and info["steps"] == 2
    version = Registry(settings).get(summary["sft"]["version"])
    assert version.params["pretrain_steps"] == "2"
    assert version.params["pretrain_learning_rate"] == str(settings.train.pretrain_learning_rate)


def test_registry_round_trip_and_the_twin_generates(tmp_home: Path) -> None:
    from twin.llm.models import generate
    from twin.registry import Registry, hyperparameters

    settings = Settings(home=tmp_home / "home", train=TINY)
    registry = Registry(settings)
    info = json.loads((settings.home_dir / "adapters" / "tiny" / "training.json").read_text())
    from twin.train.common import TrainResult

    result = TrainResult(adapter_dir=settings.home_dir / "adapters" / "tiny", run="tiny",
                         losses=info["losses"], steps=info["steps"], seconds=12.5,
                         train_samples=info["train_samples"], info=info)
    v1 = registry.register(result, hyperparameters(settings, result, 1), "abc123",
                           {"version": "v1-deadbeef", "content_hash": "deadbeef" * 8})
    assert v1.version == 1 and v1.stage == "sft" and v1.dataset == "v1-deadbeef"
    assert v1.git_commit == "abc123" and v1.base_model == "SmolLM2-135M-Instruct"
    assert v1.params["lora_r"] == "8" and v1.params["learning_rate"] == "0.002"
    assert v1.metrics["final_loss"] == pytest.approx(info["losses"][-1])
    assert registry.serving() is None
    registry.set_serving(1)
    assert registry.serving().version == 1
    # The registry holds its own copy of the adapter, loadable for generation.
    local = registry.adapter_path(registry.serving())
    assert local != result.adapter_dir and (local / "adapter_model.safetensors").exists()
    text = generate(["Write a LinkedIn post about dashboards."], settings.llm.base_model,
                    str(settings.models_dir), 24, adapter=str(local))[0]
    assert text.strip()
    # A second registration is version 2; the serving alias stays where it was.
    v2 = registry.register(result, hyperparameters(settings, result, 1), "def456")
    assert v2.version == 2 and [v.version for v in registry.versions()] == [2, 1]
    assert registry.serving().version == 1
    registry.set_serving(2)
    assert registry.serving().version == 2 and registry.get(1).aliases == []
    from twin.registry import RegistryError

    with pytest.raises(RegistryError, match="no version 9"):
        registry.set_serving(9)


def test_dpo_starts_from_the_sft_adapter_and_prefers_the_author(tmp_home: Path) -> None:
    from twin.train.dpo import train_dpo

    pairs = tmp_home / "pairs"
    pairs.mkdir()
    with (pairs / "train.jsonl").open("w") as handle:
        for instruction, answer in SAMPLES:
            handle.write(json.dumps({"prompt": instruction, "chosen": answer,
                                     "rejected": "As an AI, I think data is very important "
                                                 "for businesses in today's world."}) + "\n")
    settings = Settings(home=tmp_home / "home", train={**TINY, "dpo_learning_rate": 1e-3})
    sft = tmp_home / "home" / "adapters" / "tiny"
    assert sft.exists(), "runs after the SFT test in this module"
    result = train_dpo(settings, sft, pairs, max_steps=6, run_name="tiny-dpo")
    assert result.steps == 6 and len(result.losses) == 6
    assert result.losses[-1] < result.losses[0]  # DPO loss starts at log(2) and falls
    info = json.loads((result.adapter_dir / "training.json").read_text())
    assert info["sft_adapter"] == str(sft) and info["reward_margins"][-1] > 0
    assert info["stage"] == "dpo"
    assert (result.adapter_dir / "adapter_model.safetensors").exists()


def test_workers_share_the_free_cpus_and_take_a_free_gpu_each() -> None:
    from twin.train.common import worker_resources

    auto = Settings(train={"workers": 2})
    assert worker_resources(auto, 1, {"CPU": 2.0}).cpus == 2.0
    assert worker_resources(auto, 2, {"CPU": 5.0}).cpus == 2.0
    assert worker_resources(auto, 2, {"CPU": 1.0}).cpus == 0.5
    assert not worker_resources(auto, 2, {"CPU": 8.0, "GPU": 1.0}).use_gpu
    assert worker_resources(auto, 2, {"CPU": 8.0, "GPU": 2.0}).use_gpu
    with pytest.raises(TrainError, match="CPUs free"):
        worker_resources(auto, 1, {"CPU": 0.1})
    fixed = Settings(train={"cpus_per_worker": 1.5, "use_gpu": False})
    given = worker_resources(fixed, 2, {"CPU": 0.0, "GPU": 4.0})
    assert (given.cpus, given.use_gpu) == (1.5, False)
    assert worker_resources(fixed, 2).free_cpus == 0.0  # nothing read from a cluster


def test_throughput_is_measured_against_the_machines_matmul_rate() -> None:
    from twin.train.common import measured_flops, throughput

    peak = measured_flops(use_gpu=False, seconds=0.2)
    assert peak > 1e8  # any CPU multiplies faster than 0.1 GFLOP/s
    speed = throughput(10_000, 100.0, 135_000_000, 1, peak)
    assert speed["tokens_per_s"] == 100.0
    assert speed["limit_tokens_per_s"] == round(peak / (4 * 135_000_000), 1)
    assert throughput(0, None, 1, 1, peak)["tokens_per_s"] is None


def test_deepspeed_zero2_on_two_cpu_workers(tmp_home: Path) -> None:
    settings = Settings(home=tmp_home / "home", train={
        **TINY, "cpus_per_worker": 1, "deepspeed": "zero2"})
    result = train_sft(settings, tmp_home / "dataset", max_steps=4, workers=2,
                       run_name="zero2")
    assert result.info["deepspeed"] == "zero2" and result.info["world_size"] == 2
    assert result.steps == 4 and result.losses[-1] < result.losses[0]
    assert (result.adapter_dir / "adapter_model.safetensors").exists()


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_home: Path) -> None:
    home = tmp_home / "resume-home"
    run_dir = home / "train" / "resumable"
    snapshot = run_dir / "checkpoint_manager_snapshot.json"
    env = {**os.environ, "TWIN_HOME": str(home), "TWIN_TRAIN__CHECKPOINT_STEPS": "2",
           "TWIN_TRAIN__LEARNING_RATE": "0.002", "TWIN_TRAIN__BATCH_SIZE": "4",
           "TWIN_TRAIN__MAX_LENGTH": "96", "TWIN_TRAIN__LORA_R": "8",
           "TWIN_RAY__NUM_CPUS": "1"}
    # The first attempt is killed (the whole process group) once a checkpoint is registered.
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "train", "--dataset", str(tmp_home / "dataset"),
         "--max-steps", "40", "--run", "resumable"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if snapshot.exists() and '"step"' in snapshot.read_text():
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the first attempt ended before it could be interrupted"
        assert snapshot.exists(), "no checkpoint within 240 s"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    settings = Settings(home=home, train={**TINY, "checkpoint_steps": 2})
    result = train_sft(settings, tmp_home / "dataset", max_steps=6, run_name="resumable")
    resumed = result.info["resumed_from_step"]
    assert 2 <= resumed < 6 and resumed % 2 == 0
    assert result.steps == 6
    assert len(result.losses) == 6  # the history before the interruption came back too


def test_an_unloadable_base_model_fails_before_ray_starts(
        tmp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from twin.llm.models import ModelLoadError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    settings = Settings(home=tmp_home / "home", llm={"base_model": "no-such-org/no-model"})
    with pytest.raises(ModelLoadError, match="cannot load base model 'no-such-org/no-model'"):
        train_sft(settings, tmp_home / "dataset", max_steps=2, run_name="never")
    assert not (settings.home_dir / "train" / "never").exists()
