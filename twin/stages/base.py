"""What every stage is made of: a typed request, a typed result, and the function between them.

A stage is declared once, in :mod:`twin.stages`: its request model's fields (with their
descriptions and :class:`Flag` metadata) become the ``twin <stage>`` options, the Ray job's
arguments, the Prefect flow's parameters (checked by a test) and the docs' stage reference; its
result model is what the job prints as its summary line and what the flow, CLI and UI read back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

if TYPE_CHECKING:
    from rich.console import Console

    from twin.settings import Settings


@dataclass(frozen=True)
class Flag:
    """How a request field is spelled on a command line (``Annotated`` metadata).

    ``name`` replaces the default ``--field-name``; ``aliases`` are older spellings that keep
    working; ``negatable`` gives a bool its ``--no-<name>`` form too (the default).
    """

    name: str | None = None
    aliases: tuple[str, ...] = ()
    negatable: bool = True


class StageFailed(RuntimeError):
    """A stage could not do its work; ``code`` is the exit status (2: bad arguments)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def failing_as_stage(*errors: type[Exception], code: int = 1) -> Iterator[None]:
    """Turn the stage's own errors into :class:`StageFailed` (one readable line, ``code``)."""
    try:
        yield
    except errors as exc:
        raise StageFailed(str(exc), code=code) from exc


def with_values(settings: Settings, group: str, **values: Any) -> Settings:
    """A copy of ``settings`` whose ``group`` has the given (not None) values."""
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        return settings
    return settings.model_copy(update={group: getattr(settings, group).model_copy(
        update=values)})


class StageRequest(BaseModel):
    """What a stage is asked to do. Fields carry a ``description`` (the help text)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _none_is_empty_list(cls, value: Any, info: Any) -> Any:
        # Flows and Prefect runs pass None for "no links"; a list field means an empty list.
        field = cls.model_fields.get(info.field_name)
        origin = getattr(field.annotation, "__origin__", None) if field else None
        return [] if value is None and origin is list else value

    def for_job(self) -> StageRequest:
        """The request as a job on another machine needs it (paths made absolute)."""
        return self


class StageResult(BaseModel):
    """What a stage did: printed by the job as its summary line and parsed back from it."""

    job_id: str | None = None
    """The Ray job that produced it, when it ran as one."""

    def render(self, console: Console) -> None:
        """Print the result for a person (the CLI and the job's log)."""
        console.print(self.headline(), markup=False, highlight=False, soft_wrap=True)

    def headline(self) -> str:
        """One line: what the stage did."""
        return self.__class__.__name__

    def markdown(self) -> str:
        """The Prefect run page's artifact."""
        return f"### {self.headline()}"

    def exit_code(self) -> int:
        """The job's exit status for this result (0: success)."""
        return 0


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: the single declaration everything else is derived from."""

    name: str
    request: type[StageRequest]
    result: type[StageResult]
    run: Callable[[Any, Settings], StageResult]
    """The ``twin/`` function that runs it here: ``run(request, settings) -> result``."""
    help: str
    """What the stage does (the command's and the job's help)."""
    command: str | None = None
    """The ``twin`` command, when it is not the stage's name."""
    idempotent: bool = True
    """A second submission of the same request does no harm: the flows retry it."""

    @property
    def cli_name(self) -> str:
        """The ``twin`` subcommand."""
        return self.command or self.name

    def parse(self, values: dict[str, Any]) -> StageRequest:
        """A request from plain values; a bad one raises :class:`StageFailed` (code 2)."""
        try:
            return self.request.model_validate(values)
        except ValidationError as exc:
            raise StageFailed(validation_message(exc), code=2) from exc


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one readable sentence per problem (no URLs, no types)."""
    parts = []
    for error in exc.errors():
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
