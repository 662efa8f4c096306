"""The pipeline's stages, each declared once: a request model, a result model and the function
that runs it. The CLI's stage commands (:mod:`twin.stages.commands`), the Ray jobs
(``python -m jobs <stage>``, :mod:`twin.stages.job`), the single submit function
(:func:`twin.orchestration.submit`), the Prefect flows (checked by ``tests/test_stages.py``) and
the docs' stage reference (:func:`twin.reference.stages_reference`) all come from :data:`STAGES`.

Adding a stage is a module here (request, result, ``run_<stage>``) and one line below.
"""

from __future__ import annotations

from twin.stages.base import Flag, Stage, StageFailed, StageRequest, StageResult
from twin.stages.collect import CollectRequest, CollectResult, run_collect
from twin.stages.dataset import DatasetRequest, DatasetResult, run_dataset
from twin.stages.evaluate import EvaluateRequest, EvaluateResult, run_evaluate
from twin.stages.ingest import IngestRequest, IngestResult, run_ingest
from twin.stages.train import TrainRequest, TrainResult, run_train

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("collect", CollectRequest, CollectResult, run_collect,
          "Collect an author's writing into the warehouse (one Ray task per source; failing "
          "sources are reported and skipped)."),
    Stage("ingest", IngestRequest, IngestResult, run_ingest,
          "Clean, chunk and embed the warehouse into Milvus (Ray Data); incremental by default."),
    Stage("dataset", DatasetRequest, DatasetResult, run_dataset,
          "Build the instruction dataset (answers = the author's own text), split and "
          "versioned; instructions come from the teacher endpoint when configured "
          "(TWIN_TEACHER__BASE_URL), else from the offline generator."),
    # A second submission is a second run: never retried.
    Stage("train", TrainRequest, TrainResult, run_train,
          "LoRA SFT (then DPO) on Ray Train, after continued pretraining on the author's text "
          "when asked; each SFT/DPO run is registered as a model version.",
          idempotent=False),
    Stage("evaluate", EvaluateRequest, EvaluateResult, run_evaluate,
          "Does the twin sound like the author? Base model vs each twin version on held-out "
          "text.\n\nEvery model writes its drafts through the serving machinery (same "
          "prompts with retrieved material, evaluate.candidates drafts, the first greedy, "
          "shaped, checked and the best chosen); the newest twin version also writes one greedy "
          "draft (twin-vN@1) so the gain of choosing shows. Measures, with 95% bootstrap CIs: "
          "the voice score (the author's authorship model), the share of drafts passing the "
          "checks, distance from the author's stylometric habits, embedding similarity to "
          "what the author wrote; a blind forced choice and a rubric judge when "
          "evaluate.judge_base_url is set; retrieval hit rate and MRR for each retrieval "
          "setting. Results and the settings they choose are stored with each version in "
          "the registry.",
          command="eval"),
)}
"""Every stage, in pipeline order."""


def get_stage(name: str) -> Stage:
    """The stage called ``name`` (or whose ``twin`` command is ``name``)."""
    for stage in STAGES.values():
        if name in (stage.name, stage.cli_name):
            return stage
    raise KeyError(f"unknown stage {name!r}: one of {', '.join(STAGES)}")


__all__ = ["STAGES", "CollectRequest", "CollectResult", "DatasetRequest", "DatasetResult",
           "EvaluateRequest", "EvaluateResult", "Flag", "IngestRequest", "IngestResult", "Stage",
           "StageFailed", "StageRequest", "StageResult", "TrainRequest", "TrainResult",
           "get_stage"]
