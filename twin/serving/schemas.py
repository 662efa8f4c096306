"""The post routes' request and response bodies (validated: a bad one is a 4xx with a message);
the OpenAI-compatible bodies are in :mod:`twin.serving.openai_api`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PROMPT_CHARS = 4_000  # the settings' serve.max_prompt_chars is checked again per request


class PostRequest(BaseModel):
    """Ask the twin for a LinkedIn post."""

    # A field this request does not have is a mistake (or padding), not something to ignore.
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS,
                        description="What the post should be about.")
    author_id: str | None = Field(default=None, max_length=200,
                                  description="Whose voice and writing (default: the only "
                                  "author, or one named in the prompt).")
    links: list[str] = Field(default_factory=list, max_length=10,
                             description="Extra material to draw on (fetched for this request).")
    save_links: bool | None = Field(default=None, description="Also keep the links' material "
                                    "in the warehouse as the author's reference material "
                                    "(default: the server's rag.save_links).")
    max_words: int = Field(default=300, ge=20, le=1000)
    tone: Literal["professional", "casual", "enthusiastic", "reflective", "storytelling"] | None \
        = Field(default=None, description="A tone to ask for (default: the author's usual).")
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="Sampling temperature; 0: one greedy draft "
        "(default: the evaluation's choice for the served model, else llm.temperature).")
    candidates: int | None = Field(default=None, ge=1, le=8,
                                   description="Drafts to choose from (default: the "
                                   "evaluation's choice for the served model, else the "
                                   "server's serve.candidates); 1: no choosing.")
    timeout_s: float | None = Field(default=None, gt=0, le=3600,
                                    description="Give up (504) after this long; the server's "
                                    "own limit applies when it is shorter.")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty")
        return value

    @field_validator("links")
    @classmethod
    def _http_links(cls, value: list[str]) -> list[str]:
        for link in value:
            if not link.startswith(("http://", "https://")) or len(link) > 2000:
                raise ValueError(f"not an http(s) link: {link[:100]!r}")
        return value


class Source(BaseModel):
    """A piece of writing the post drew on."""

    url: str
    title: str
    platform: str
    score: float
    origin: Literal["knowledge base", "link"] = "knowledge base"


class Evidence(BaseModel):
    """One reason for a voice score; ``weight`` > 0 pushed it up."""

    text: str
    weight: float


class VoiceScore(BaseModel):
    """How much the post sounds like the author (0..1: the author's voice model's calibrated
    probability) and why."""

    score: float
    evidence: list[Evidence] = Field(default_factory=list)


class CheckResult(BaseModel):
    """One check of the post against the author's habits on the channel."""

    name: str
    passed: bool
    reason: str


class PostResponse(BaseModel):
    """The post, what it drew on, how it scored, and how long each step took."""

    post: str
    sources: list[Source]
    model_version: str
    voice: VoiceScore | None = Field(
        default=None, description="'Sounds like you': None when the author has no voice model.")
    checks: list[CheckResult] = Field(default_factory=list)
    candidates: list[dict[str, Any]] = Field(
        default_factory=list, description="Every draft considered: checks passed, voice score, "
        "words, and whether it was chosen.")
    link_errors: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
