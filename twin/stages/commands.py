"""The stages as ``twin`` commands: each request field becomes a Typer option (the same
reading as the Ray job's arguments, :mod:`twin.stages.options`)."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from twin.stages.base import Stage
from twin.stages.options import Option, options

Handler = Callable[[Stage, dict[str, Any], dict[str, Any]], None]
"""Runs a stage command: (stage, request values, the command's own extra options)."""


def _typer_option(option: Option) -> tuple[Any, Any]:
    """(annotation, default) of one request field as a Typer parameter."""
    decls = list(option.flags)
    if option.type is bool and option.negatable:
        decls[0] = f"{option.flag}/{option.negative}"
    info = typer.Option(*decls, help=option.help,
                        show_default=not option.multiple and option.default is not None)
    kind: Any = option.type
    if option.choices:  # Typer shows an Enum's values as the choices
        kind = enum.Enum(option.field, {c: c for c in option.choices}, type=str)
    if option.multiple:
        kind = list[kind]
    if not option.required and option.default is None or option.multiple:
        kind = kind | None
    default = inspect.Parameter.empty if option.required else \
        (None if option.multiple else option.default)
    return Annotated[kind, info], default


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def stage_command(stage: Stage, handler: Handler,
                  extra: dict[str, tuple[Any, Any]] | None = None) -> Callable[..., None]:
    """A Typer command function for ``stage``: its request's fields, then ``extra`` options
    (name -> (Annotated type, default), e.g. ``--submit``), all handed to ``handler``."""
    fields = options(stage.request)
    extra = extra or {}
    parameters = []
    for option in fields:
        annotation, default = _typer_option(option)
        parameters.append(inspect.Parameter(option.field, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=annotation))
    for name, (annotation, default) in extra.items():
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=annotation))

    def command(**values: Any) -> None:
        request = {o.field: _plain(values[o.field]) for o in fields
                   if values[o.field] is not None}
        handler(stage, request, {name: values[name] for name in extra})

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = stage.cli_name.replace("-", "_")
    command.__doc__ = stage.help
    return command


SUBMIT: tuple[Any, Any] = (Annotated[bool, typer.Option(
    "--submit/--no-submit", help="Submit as a Ray job to the cluster (as the Prefect flows "
    "do) instead of running the driver here.")], False)
"""Every stage command's ``--submit``."""
