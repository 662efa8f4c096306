"""The model registry: every training run is an MLflow run and a version of one registered
model; the version marked with the serving alias is the one the Serve app loads.

The store is MLflow's (local SQLite under the home folder by default, any tracking server by
URI), so runs, metrics and versions can also be browsed with ``mlflow ui``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from twin.domain import ModelVersion, TrainResult
from twin.domain.choices import Choices
from twin.domain.models import VOICE_DIR
from twin.settings import Settings

log = logging.getLogger(__name__)
CHOICES_TAG = "choices"
CHOICES_TAG_LIMIT = 8000  # MLflow's longest tag value


class RegistryError(RuntimeError):
    """A registry lookup failed; the message names the version or alias."""


def hyperparameters(settings: Settings, result: TrainResult, workers: int,
                    card: dict[str, Any] | None = None) -> dict[str, Any]:
    """What to record about how a run was trained, its recipe included: continued-pretraining
    steps (0: none; from ``result.info["pretrain"]``), ``max_length``, and the share of training
    samples with retrieved material (from the dataset ``card`` when given)."""
    t = settings.train
    pretrain = result.info.get("pretrain") or {}
    dataset = ((card or {}).get("settings") or {}).get("dataset") or {}
    return {
        "pretrain_steps": int(pretrain.get("steps", 0)),
        **({"pretrain_learning_rate": pretrain.get("learning_rate", t.pretrain_learning_rate)}
           if pretrain else {}),
        "context_share": dataset.get("context_share", settings.dataset.context_share),
        "context_tokens": settings.dataset.context_tokens,
        "stage": result.info.get("stage", "sft"), "base_model": settings.llm.base_model,
        "lora_r": t.lora_r, "lora_alpha": t.lora_alpha, "lora_dropout": t.lora_dropout,
        "target_modules": ",".join(t.lora_target_modules),
        "learning_rate": t.dpo_learning_rate if result.info.get("stage") == "dpo"
        else t.learning_rate,
        "batch_size": t.batch_size, "max_length": t.max_length, "seed": t.seed,
        "max_steps": result.steps, "workers": workers,
        "use_gpu": bool(result.info.get("use_gpu", t.use_gpu)),
        "cpus_per_worker": result.info.get("cpus_per_worker", t.cpus_per_worker),
        "deepspeed": result.info.get("deepspeed", "off"), "qlora": t.qlora,
        **({"dpo_beta": t.dpo_beta} if result.info.get("stage") == "dpo" else {}),
    }


class Registry:
    """Register, list and pick model versions (MLflow tracking + model registry)."""

    def __init__(self, settings: Settings) -> None:
        # MLflow's usage telemetry would phone home (and write ~/.config/mlflow): never here.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow  # noqa: F401  (imported here: slow, and only needed by these commands)
        from mlflow.tracking import MlflowClient

        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.settings = settings
        self.name = settings.registry.model_name
        self.alias = settings.registry.serving_alias
        uri = settings.tracking_uri
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def _experiment_id(self) -> str:
        name = self.settings.registry.experiment
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        artifacts = self.settings.home_dir / "mlartifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(name, artifact_location=artifacts.as_uri())

    def register(self, result: TrainResult, params: dict[str, Any], git_commit: str,
                 dataset_card: dict[str, Any] | None = None) -> ModelVersion:
        """Record ``result`` as an MLflow run (params, per-step loss, adapter) and a version."""
        from mlflow.entities import Metric, Param
        from mlflow.exceptions import MlflowException

        info = result.info
        card = dataset_card or {}
        dataset = card.get("version") or Path(info.get("dataset", "")).name
        tags = {"stage": info.get("stage", "sft"), "base_model": info.get("base_model", ""),
                "dataset": dataset, "dataset_hash": card.get("content_hash", ""),
                "git_commit": git_commit, "adapter_dir": str(result.adapter_dir),
                "twin_run": result.run,
                "pretrain_steps": str((info.get("pretrain") or {}).get("steps", 0))}
        run = self.client.create_run(self._experiment_id(), run_name=result.run, tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric("loss", loss, now, step) for step, loss in
                   enumerate(result.losses, start=1)]
        metrics += [Metric("reward_margin", m, now, step) for step, m in
                    enumerate(info.get("reward_margins", []), start=1)]
        summary = self._summary_metrics(result)
        metrics += [Metric(k, v, now, 0) for k, v in summary.items()]
        self.client.log_batch(run_id, metrics=metrics,
                              params=[Param(k, str(v)) for k, v in params.items()])
        self.client.log_artifacts(run_id, str(result.adapter_dir), "adapter")
        if card:
            self.client.log_dict(run_id, card, "dataset_card.json")
        voice = self._voice_models(info, card)
        if voice is not None:
            self.client.log_artifacts(run_id, str(voice), VOICE_DIR)
        self.client.set_terminated(run_id)
        try:
            self.client.create_registered_model(
                self.name, description="LoRA adapters that write like the author.")
        except MlflowException as exc:
            if "already exists" not in str(exc).lower() and \
                    getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{run.info.artifact_uri}/adapter"
        mv = self.client.create_model_version(self.name, source=source, run_id=run_id,
                                              tags=tags)
        log.info("registered %s version %s (run %s)", self.name, mv.version, result.run)
        return self.get(int(mv.version))

    def _voice_models(self, info: dict[str, Any], card: dict[str, Any]) -> Path | None:
        """The voice models that go with a version, the score of its drafts: its dataset's, or
        for DPO (trained on preference pairs) those of the instruction dataset behind them."""
        folders = [Path(info["dataset"]) / VOICE_DIR] if info.get("dataset") else []
        instruct = (card.get("source") or {}).get("instruct_version")
        if instruct:
            folders.append(self.settings.home_dir / "datasets" / "instruct" / instruct / VOICE_DIR)
        return next((f for f in folders if f.is_dir()), None)

    @staticmethod
    def _summary_metrics(result: TrainResult) -> dict[str, float]:
        info = result.info
        out: dict[str, float] = {"steps": float(result.steps), "seconds": result.seconds,
                                 "train_samples": float(result.train_samples)}
        if result.losses:
            out["first_loss"] = result.losses[0]
            out["final_loss"] = result.losses[-1]
        if info.get("tokens_seen"):
            out["tokens_seen"] = float(info["tokens_seen"])
        if info.get("train_runtime_s"):
            out["train_runtime_s"] = float(info["train_runtime_s"])
            out["tokens_per_s"] = float(info.get("tokens_seen", 0)) / info["train_runtime_s"]
        for key in ("limit_tokens_per_s", "utilisation"):
            if info.get(key):
                out[key] = float(info[key])
        if info.get("reward_margins"):
            out["final_reward_margin"] = info["reward_margins"][-1]
        pretrain = info.get("pretrain") or {}
        if pretrain.get("losses"):
            out["pretrain_first_loss"] = pretrain["losses"][0]
            out["pretrain_final_loss"] = pretrain["losses"][-1]
            out["pretrain_seconds"] = float(pretrain.get("seconds") or 0.0)
        return out

    def _aliases(self) -> dict[str, list[str]]:
        """Version -> its aliases (search results do not carry them)."""
        out: dict[str, list[str]] = {}
        for alias, version in (self.client.get_registered_model(self.name).aliases or {}).items():
            out.setdefault(str(version), []).append(alias)
        return out

    def _version(self, mv: Any, aliases: dict[str, list[str]] | None = None) -> ModelVersion:
        run = self.client.get_run(mv.run_id)
        if aliases is None:
            aliases = self._aliases()
        tags = mv.tags or {}
        metrics = {k: v for k, v in run.data.metrics.items()}
        return ModelVersion(
            version=int(mv.version), run_id=mv.run_id, run_name=tags.get("twin_run", ""),
            stage=tags.get("stage", ""), source=mv.source,
            base_model=tags.get("base_model", ""), dataset=tags.get("dataset", ""),
            git_commit=tags.get("git_commit", ""),
            created=time.strftime("%Y-%m-%d %H:%M:%S",
                                  time.localtime(mv.creation_timestamp / 1000)),
            aliases=sorted(aliases.get(str(mv.version), [])),
            params=dict(run.data.params), metrics=metrics, gate=tags.get("gate", ""),
            choices=self._choices(int(mv.version), tags))

    @staticmethod
    def _choices(version: int, tags: dict[str, str]) -> Choices | None:
        if not tags.get(CHOICES_TAG):
            return None
        try:
            return Choices.model_validate_json(tags[CHOICES_TAG])
        except ValueError as exc:  # written by an older or newer twin: the settings apply
            log.warning("version %s: unreadable choices (%s)", version, exc)
            return None

    def versions(self) -> list[ModelVersion]:
        """All versions, newest first (empty when nothing was registered yet)."""
        found = self.client.search_model_versions(f"name='{self.name}'")
        if not found:
            return []
        aliases = self._aliases()
        return sorted((self._version(mv, aliases) for mv in found), key=lambda v: -v.version)

    def get(self, version: int) -> ModelVersion:
        """One version; :class:`RegistryError` if it does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return self._version(self.client.get_model_version(self.name, str(version)))
        except MlflowException as exc:
            raise RegistryError(f"no version {version} of model {self.name!r}; "
                                "`twin models` lists them") from exc

    def set_serving(self, version: int) -> ModelVersion:
        """Mark ``version`` as the one to serve (moves the alias)."""
        self.get(version)
        self.client.set_registered_model_alias(self.name, self.alias, str(version))
        return self.get(version)

    def serving(self) -> ModelVersion | None:
        """The version marked for serving, or None."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.name, self.alias)
        except MlflowException:
            return None
        return self._version(mv)

    def log_metrics(self, version: int, metrics: dict[str, float]) -> None:
        """Attach more metrics (e.g. an evaluation) to a version's run."""
        run_id = self.get(version).run_id
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, float(value))

    def record_gate(self, version: int, decision: dict[str, Any]) -> None:
        """Keep the gate's decision with the version: its headline as the version's ``gate``
        tag, ``gate_promoted`` as a metric, the whole decision as ``gate.json``."""
        mv = self.get(version)
        self.client.set_model_version_tag(self.name, str(version), "gate",
                                          str(decision.get("headline", ""))[:4000])
        self.client.log_metric(mv.run_id, "gate_promoted", float(bool(decision.get("promote"))))
        self.client.log_text(mv.run_id, json.dumps(decision, indent=2), "gate.json")

    def record_choices(self, version: int, choices: Choices) -> None:
        """Keep the settings the evaluation chose with the version: as its ``choices`` tag
        (read back on :class:`ModelVersion`) and as ``choices.json`` in its run."""
        mv = self.get(version)
        text = choices.model_dump_json()
        if len(text) > CHOICES_TAG_LIMIT:
            raise RegistryError(f"version {version}: choices of {len(text)} characters do not "
                                f"fit a tag ({CHOICES_TAG_LIMIT})")
        self.client.set_model_version_tag(self.name, str(version), CHOICES_TAG, text)
        self.client.log_text(mv.run_id, choices.model_dump_json(indent=2), "choices.json")

    def adapter_path(self, version: ModelVersion) -> Path:
        """A local folder with the version's adapter (downloaded once if the store is remote)."""
        parsed = urlparse(version.source)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
        target = self.settings.home_dir / "registry-cache" / f"v{version.version}"
        if not (target / "adapter_config.json").exists():
            import shutil

            import mlflow.artifacts

            tmp = target.parent / f"v{version.version}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            local = mlflow.artifacts.download_artifacts(artifact_uri=version.source,
                                                        dst_path=str(tmp))
            shutil.rmtree(target, ignore_errors=True)
            Path(local).rename(target)
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def voice_root(self, version: ModelVersion) -> Path | None:
        """A local folder holding the version's authors' kits (``<author_id>/``: voice model
        and channel profile), downloaded once if the store is remote; None when it has none."""
        artifact_uri = self.client.get_run(version.run_id).info.artifact_uri
        parsed = urlparse(artifact_uri)
        if parsed.scheme in ("file", ""):
            folder = Path(unquote(parsed.path)) / VOICE_DIR
            return folder if folder.is_dir() else None
        folder = self.settings.home_dir / "registry-cache" / f"v{version.version}-voice" / VOICE_DIR
        if not folder.is_dir():
            import mlflow.artifacts
            from mlflow.exceptions import MlflowException

            try:
                mlflow.artifacts.download_artifacts(run_id=version.run_id,
                                                    artifact_path=VOICE_DIR,
                                                    dst_path=str(folder.parent))
            except MlflowException:
                return None
        return folder if folder.is_dir() else None

    def voice_model_dir(self, version: ModelVersion, author_id: str) -> Path | None:
        """A local folder with the author's voice model of a version (downloaded once if the
        store is remote), or None when the version has none."""
        artifact_uri = self.client.get_run(version.run_id).info.artifact_uri
        parsed = urlparse(artifact_uri)
        if parsed.scheme in ("file", ""):
            folder = Path(unquote(parsed.path)) / VOICE_DIR / author_id
            return folder if folder.is_dir() else None
        folder = (self.settings.home_dir / "registry-cache" / f"v{version.version}-voice"
                  / VOICE_DIR / author_id)
        if not folder.is_dir():
            import mlflow.artifacts
            from mlflow.exceptions import MlflowException

            try:
                mlflow.artifacts.download_artifacts(
                    run_id=version.run_id, artifact_path=f"{VOICE_DIR}/{author_id}",
                    dst_path=str(folder.parents[1]))
            except MlflowException:
                return None
        return folder if folder.is_dir() else None


def dataset_card(dataset_dir: Path | str) -> dict[str, Any] | None:
    """The card of a dataset version folder, if it has one."""
    card = Path(dataset_dir) / "card.json"
    return json.loads(card.read_text()) if card.exists() else None
