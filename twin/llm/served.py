"""The served model, resolved once per deployment of the Serve app and handed to every replica.

A replica never looks the model up again: the registry's serving alias can move while the app
runs, and every route and every replica (restarted or autoscaled) keeps serving the version the
app was deployed with until it is deployed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.domain.choices import Choices


class ServedModel(BaseModel):
    """What the app serves: the registry version, its weights, template and the engine's own
    context window (what the engine accepts, not what the model was trained for)."""

    model_config = ConfigDict(frozen=True)

    version: int | None = Field(description="Registry version; None: the plain base model.")
    label: str = Field(description="What the routes report: twin-v<N>, or base.")
    engine: str = Field(description="The engine's name in the engine registry.")
    base_model: str = Field(description="The base model's id or folder, as configured.")
    adapter: str | None = Field(default=None, description="The LoRA adapter's folder.")
    chat_template: str | None = Field(
        default=None, description="The chat template training used (the adapter's tokenizer's); "
        "None: the tokenizer's own.")
    window: int = Field(gt=0, description="Prompt plus answer tokens the engine accepts.")
    cache_dir: str = Field(description="Where converted base models are cached.")
    voice_dir: str | None = Field(
        default=None, description="The authors' kits that finish this model's drafts "
        "(<author_id>/: channel profile and voice model): the version's, or for the base model "
        "the newest dataset's; None: generic checks and no voice score.")
    choices: Choices | None = Field(
        default=None, description="The settings the evaluation chose for this model (the "
        "version's, or for the base model the newest dataset's): a request's defaults; None: "
        "the settings' defaults.")

    def base_path(self) -> str:
        """The base model as a loadable folder or id on this machine."""
        from twin.llm.models import resolve_base_model

        return resolve_base_model(self.base_model, Path(self.cache_dir))

    def tokenizer_source(self) -> str:
        """Where the tokenizer is: the adapter's folder (saved with training's), else the base."""
        return self.adapter or self.base_path()

    def info(self) -> dict[str, Any]:
        """What the routes say is served."""
        return {"model_version": self.label, "engine": self.engine,
                "base_model": self.base_model, "adapter": self.adapter, "window": self.window,
                "choices": self.choices.model_dump(mode="json") if self.choices else None}
