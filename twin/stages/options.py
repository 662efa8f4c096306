"""A request model's fields as command-line options: one reading that the ``twin`` commands
(Typer) and the Ray jobs (argparse) both build from."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from twin.stages.base import Flag


@dataclass(frozen=True)
class Option:
    """One field of a request, as an option."""

    field: str
    flags: tuple[str, ...]
    """The option's spellings, the preferred one first."""
    type: type
    """The type of one value: str, int, Path or bool."""
    help: str
    default: Any
    required: bool = False
    multiple: bool = False
    choices: tuple[str, ...] | None = None
    negatable: bool = False
    """A bool with a ``--no-`` form."""

    @property
    def flag(self) -> str:
        """The preferred spelling."""
        return self.flags[0]

    @property
    def negative(self) -> str:
        """The ``--no-`` spelling of a negatable bool."""
        return "--no-" + self.flag.removeprefix("--")


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def options(model: type[BaseModel]) -> list[Option]:
    """The model's fields as options, in declaration order."""
    out = []
    for name, field in model.model_fields.items():
        flag = next((m for m in field.metadata if isinstance(m, Flag)), Flag())
        annotation, _ = _unwrap(field.annotation)
        multiple = typing.get_origin(annotation) is list
        if multiple:
            annotation = typing.get_args(annotation)[0]
        choices = None
        if typing.get_origin(annotation) is Literal:
            choices = tuple(str(c) for c in typing.get_args(annotation))
            annotation = str
        if annotation not in (str, int, float, bool, Path):
            raise TypeError(f"{model.__name__}.{name}: no command-line form for {annotation}")
        default = field.get_default(call_default_factory=True) \
            if field.default is not PydanticUndefined or field.default_factory else None
        out.append(Option(
            field=name, flags=(flag.name or "--" + name.replace("_", "-"), *flag.aliases),
            type=annotation, help=field.description or "", default=default,
            required=field.is_required(), multiple=multiple, choices=choices,
            negatable=annotation is bool and flag.negatable))
    return out


def parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict, VALUE read as JSON when it parses (``twin run -p``)."""
    import json

    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param wants KEY=VALUE, not {item!r}")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params
