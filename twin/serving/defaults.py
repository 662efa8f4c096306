"""A request's defaults in the Serve app: the settings the evaluation chose for the served model
(:class:`twin.domain.choices.Choices`), where recorded, else the settings' own.

Precedence, highest first: the request's own values; ``rag`` values the operator set to
something other than their default (environment, config file); the recorded choices; the
settings' defaults."""

from __future__ import annotations

from twin.domain.choices import Choices
from twin.settings import Settings


def explicit_rag(settings: Settings) -> set[str]:
    """The ``rag`` fields the operator set to something other than their default.

    Set *and* different: a settings copy made through a full dump (``with_overrides``, the
    serve config's ``args.settings``) marks every field as set, defaults included."""
    rag = settings.rag
    fields = type(rag).model_fields
    return {name for name in rag.model_fields_set
            if getattr(rag, name) != fields[name].get_default(call_default_factory=True)}


def chosen_settings(settings: Settings, choices: Choices | None) -> Settings:
    """``settings`` with the retrieval and context budget of ``choices`` in ``rag``, except
    the ``rag`` fields the operator set (:func:`explicit_rag`); ``settings`` itself when
    there are no choices."""
    if choices is None:
        return settings
    explicit = explicit_rag(settings)
    values = {k: v for k, v in choices.rag_values().items() if k not in explicit}
    if not values:
        return settings
    return settings.model_copy(update={"rag": settings.rag.model_copy(update=values)})


def request_decoding(temperature: float | None, candidates: int | None,
                     choices: Choices | None, serve_candidates: int,
                     default_temperature: float) -> tuple[float, int]:
    """The temperature and number of drafts of one post: the request's values where given,
    else the choices', else ``serve_candidates`` at ``default_temperature`` (``llm.temperature``).

    Several drafts need sampling: when the request asks for several and names no temperature
    while the choices say one greedy draft, they are sampled at ``default_temperature``.
    Greedy decoding writes one draft however often it is asked."""
    if choices is not None:
        chosen_t, chosen_n = choices.temperature, choices.candidates
    else:
        chosen_t, chosen_n = default_temperature, serve_candidates
    n = candidates if candidates is not None else chosen_n
    if temperature is None:
        temperature = chosen_t if chosen_t > 0 or n == 1 else default_temperature
    return temperature, 1 if temperature <= 0 else n
