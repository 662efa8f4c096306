"""The README's main command: the demo author end to end on embedded defaults: local Ray,
Milvus, Prefect and the web UI; collect + ingest and dataset + train as Prefect deployment runs;
a search, a before/after sample, the Serve app and a generated post.

It tells its story in a few lines per stage; the jobs' logs and every library's chatter go to
the log file the CLI names (``twin demo --verbose`` shows them instead).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.features.clean import plain_text
from twin.retrieval import search
from twin.services import SERVICES, down, up
from twin.settings import Settings
from twin.terminal import Waiting, log_line
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_QUERY = "a partner changed a column type and the loader broke at 3 a.m."
DEMO_PROMPT = ("Write a LinkedIn post about what a partner's silent schema change taught us "
               "about data contracts")
INDENT = "    "


def before_after(settings: Settings, dataset_dir: str, adapter: str,
                 max_new_tokens: int = 120) -> dict[str, Any]:
    """The base model's and the twin's answers to the first held-out instruction, asked with
    the prompt the Serve app and the evaluation build for it (its word limit and material),
    each finished as a served post is, with its voice score (``scores``)."""
    from transformers import AutoTokenizer

    from twin.datasets.build import load_split
    from twin.evaluate.generation import evaluation_prompts
    from twin.llm.models import generate, resolve_base_model

    sample = load_split(Path(dataset_dir), "test")[0]
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(settings.llm.base_model,
                                                                 settings.models_dir))
    prompt = evaluation_prompts(settings, [sample], tokenizer)
    cache = str(settings.models_dir)
    decoding = {"top_p": settings.llm.top_p,
                "repetition_penalty": settings.llm.repetition_penalty}
    base = generate(prompt, settings.llm.base_model, cache, max_new_tokens, **decoding)[0]
    twin = generate(prompt, settings.llm.base_model, cache, max_new_tokens, adapter=adapter,
                    **decoding)[0]
    from twin.evaluate.drafts import finish_answers

    finished = finish_answers(settings, Path(dataset_dir), [sample] * 3,
                              [[base], [twin], [sample["answer"]]])
    scores = {label: f["measures"]["voice_score"] for label, f in
              zip(("base model", "twin", "the author wrote"), finished, strict=True)}
    posts = [f["post"] or f"({f['notes'][0]})" for f in finished[:2]]
    return {"instruction": sample["instruction"], "base model": posts[0], "twin": posts[1],
            "the author wrote": sample["answer"], "scores": scores}


def _say(console: Console, text: str, markup: bool = True) -> None:
    """One story line, wrapped to the terminal under its own indentation."""
    lead = text[: len(text) - len(text.lstrip(" "))]
    console.print(textwrap.fill(text.strip(), width=max(40, console.width - 1),
                                initial_indent=lead, subsequent_indent=lead + INDENT,
                                break_on_hyphens=False, break_long_words=False),
                  markup=markup, highlight=False)


def _paragraph(console: Console, label: str, text: str, limit: int = 320) -> None:
    """``label: text`` shortened to ``limit`` characters, wrapped under the label."""
    body = textwrap.fill(plain_text(text, limit), width=max(40, console.width - 6),
                         initial_indent=INDENT, subsequent_indent=INDENT)
    console.print(f"  [bold]{label}[/]")
    console.print(body, markup=False)


def serve_and_ask(settings: Settings, console: Console) -> dict[str, Any]:
    """Deploy the Serve app on the demo's Ray head, ask for a post, print it with sources."""
    import asyncio

    from twin.report import draft_verdict
    from twin.serving import runner
    from twin.serving.client import TwinAPI

    with Waiting(console, "starting the Serve app (model load, RAG replica)…", bar=False):
        health = runner.start(settings)
    url = settings.serve_url
    _say(console, f"{INDENT}serving {health['model_version']} ({health['engine']}) at {url} "
                  f"(API docs {url}/docs)", markup=False)
    _say(console, f"{INDENT}POST /v1/posts {DEMO_PROMPT!r}", markup=False)
    with Waiting(console, "the twin is writing…", bar=False):
        data = asyncio.run(TwinAPI(url, settings.serve.api_key, timeout_s=600).post(
            {"prompt": DEMO_PROMPT, "max_words": 120}))  # the served model's chosen decoding
    width = max(40, console.width - 6)
    for paragraph in data["post"].strip().split("\n"):
        if paragraph.strip():
            console.print(textwrap.fill(paragraph.strip(), width=width, initial_indent=INDENT,
                                        subsequent_indent=INDENT), markup=False)
    _say(console, f"{INDENT}{draft_verdict(data, 'her')}", markup=False)
    _say(console, f"{INDENT}[dim]sources:[/]")
    for source in data["sources"]:
        _say(console, f"{INDENT}  {source['score']:.3f} {source['platform']:<9} "
                      f"{source['title'][:60]}", markup=False)
    return data


def _results(api: Any, run_id: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The typed results of a deployment run's stage jobs, by stage: each job's summary line
    in the run's logs, read with its stage's result model (the chain says which came when)."""
    from twin.rayjobs import SUMMARY_MARKER, result_from_logs
    from twin.stages import get_stage
    from twin.stages.chains import get_chain

    lines = [line["message"] for line in api.all_logs(run_id) if SUMMARY_MARKER in line["message"]]
    steps = get_chain(name).running(params)
    return {step.stage: result_from_logs(line, get_stage(step.stage).result)
            for step, line in zip(steps, lines, strict=False)}


def _run_deployment(api: Any, name: str, params: dict[str, Any], settings: Settings,
                    console: Console, label: str, verbose: bool) -> dict[str, Any]:
    """Start a Prefect deployment run (as the UI's buttons do) and wait for it with a progress
    line; its logs go to the log (the terminal with ``verbose``). Returns the run, its
    artifacts and its jobs' typed results by stage."""
    from twin.prefect_client import PrefectError

    started = api.run(name, params)
    log.info("Prefect flow run %s of deployment %r", started.name, name)

    def show(line: str) -> None:
        if verbose:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            log_line(line)

    with Waiting(console, label) as waiting:
        def progress(run: Any) -> None:
            try:
                tasks = api.task_runs(run.id)
                done = api.progress(run.id)
            except PrefectError:
                return
            running = [t["name"].rsplit("-", 1)[0].removesuffix("-ray-job") for t in tasks
                       if t["state"] == "RUNNING"]
            waiting.update(done, f"{running[-1]} job" if running else run.state.lower())

        end = api.wait(started.id, settings.prefect.flow_timeout_s * 2, on_log=show,
                       on_poll=progress)
    if end.state != "COMPLETED":
        raise PrefectError(f"flow run {end.name} of the {name!r} deployment ended {end.state}: "
                           f"{end.state_message}".strip())
    return {"run": end, "artifacts": api.artifacts(end.id),
            "results": _results(api, end.id, name, params)}


def _collected_line(results: dict[str, Any], settings: Settings) -> list[str]:
    """What collection and ingestion did, in two lines."""
    collected, ingested = results["collect"], results.get("ingest")
    totals = collected.totals
    failed = [s for s in collected.sources if s.failed]
    lines = [f"{totals['found']} documents from {len(collected.sources)} sources "
             f"({totals['new']} new, {totals['updated']} updated, {totals['unchanged']} "
             f"unchanged, {totals['failed']} failed); "
             f"{ingested.chunks_in_collection if ingested else 0} chunks searchable in Milvus"]
    lines += [f"failed: {s.source}: {s.reason}" for s in failed]
    stats = Warehouse.from_settings(settings).stats()
    lines.append("by platform: " + " · ".join(f"{r['platform']} {r['documents']}"
                                              for r in stats))
    return lines


def run_demo(settings: Settings, keep_running: bool = False, console: Console | None = None,
             verbose: bool = False) -> dict[str, Any]:
    """The whole journey on embedded defaults: local Ray, Milvus, Prefect and the UI; the demo
    author's sites; collect + ingest and dataset + train as Prefect deployment runs (each stage a
    Ray job); a search; a before/after; the Serve app and a post; the UI's address."""
    from twin.prefect_client import PrefectAPI
    from twin.ui.profile import Profile, save_profile

    console = console or Console(highlight=False)
    start = time.monotonic()
    marks: dict[str, float] = {}
    started = [s.name for s in SERVICES
               if not s.is_external(settings) and not s.is_running(settings)]
    _say(console, "[bold]1/8[/] starting the local services: a Ray head (job submission), "
                  "Milvus Lite, a Prefect server and worker, the web UI")
    with Waiting(console, "starting…", bar=False):
        statuses = up(settings)
    marks["services"] = time.monotonic()
    _say(console, f"{INDENT}{len(statuses)} running in {marks['services'] - start:.0f}s: "
                  + ", ".join(f"{s.name} {s.address or ''}".strip() for s in statuses),
                  markup=False)
    api = PrefectAPI.from_settings(settings)
    site = DemoSite(settings.home_dir / "demo", settings.demo_base_port).start()
    try:
        links, exports = site.links(), [str(p) for p in site.exports()]
        overrides = site.settings_overrides()
        # The UI's profile: the Collect page can run the same collection again.
        save_profile(Profile(author=AUTHOR_NAME, links=links, exports=exports,
                             settings_overrides=overrides), settings)
        _say(console, f"[bold]2/8[/] collecting {AUTHOR_NAME}'s writing: {len(links)} links "
                      f"on her demo sites (127.0.0.1) and {len(exports)} export ZIPs, through "
                      "the 'collect' deployment (a collect job, then an ingest job)")
        collected = _run_deployment(api, "collect", {
            "author": AUTHOR_NAME, "links": links, "exports": exports, "ingest": True,
            "settings_overrides": overrides}, settings, console, "collect + ingest", verbose)
        marks["collect"] = time.monotonic()
        for line in _collected_line(collected["results"], settings):
            _say(console, f"{INDENT}{line}", markup=False)

        _say(console, f"[bold]3/8[/] searching her knowledge base (hybrid): {SAMPLE_QUERY!r}",
                      markup=True)
        with Waiting(console, "searching…", bar=False):
            hits = search(SAMPLE_QUERY, settings, author=AUTHOR_NAME, k=3)
        marks["search"] = time.monotonic()
        for hit in hits:
            date = (datetime.fromtimestamp(hit.published_at, UTC).strftime("%Y-%m-%d")
                    if hit.published_at else "")
            _say(console, f"{INDENT}{hit.score:.3f} {hit.platform:<9} {date:<10} "
                          f"{hit.title[:max(20, console.width - 36)]}", markup=False)

        steps = settings.demo_train_steps
        _say(console, f"[bold]4/8[/] fine-tuning through the 'train' deployment: a dataset job "
                      f"(the author's own text as answers), then {steps} LoRA SFT steps on Ray "
                      "Train")
        # The workers take the CPUs the demo's head has free (train.cpus_per_worker: auto).
        tuning = {"train": {
            "learning_rate": settings.demo_train_learning_rate,
            "max_length": settings.demo_train_max_length},
            # The gate's evaluation, sized for the demo's time on a laptop.
            "evaluate": {"max_samples": settings.demo_gate_samples, "max_new_tokens": 120}}
        trained_run = _run_deployment(api, "train", {
            "author": AUTHOR_NAME, "max_steps": steps, "serve": True,
            "settings_overrides": tuning}, settings, console, "dataset + train", verbose)
        marks["train"] = time.monotonic()
        data, trained = trained_run["results"]["dataset"], trained_run["results"]["train"]
        counts, grounding = data.counts, data.grounding
        _say(console, f"{INDENT}dataset {data.version}: {counts.get('train')} train / "
                      f"{counts.get('test')} test samples from {counts.get('documents')} "
                      f"documents; {grounding.get('passed')}/{grounding.get('checked')} answers "
                      "found verbatim in the warehouse", markup=False)
        sft = trained.sft
        _say(console, f"{INDENT}model version {sft.version}: loss {sft.losses[0]:.3f} -> "
                      f"{sft.losses[-1]:.3f} in {sft.steps} steps ({sft.seconds:.0f}s)",
                      markup=False)
        if sft.tokens_per_s:
            _say(console, f"{INDENT}{sft.speed_text()}", markup=False)
        if trained.gate is not None:
            _say(console, f"{INDENT}{trained.gate.headline()}", markup=False)

        _say(console, "[bold]5/8[/] before and after, on an instruction held out from training:")
        with Waiting(console, "the base model and the twin answer…", bar=False):
            sample = before_after(settings, data.path, sft.adapter)
        marks["sample"] = time.monotonic()
        _say(console, f"{INDENT}{sample['instruction']}", markup=False)
        for label in ("base model", "twin", "the author wrote"):
            score = sample["scores"].get(label)
            shown = label if score is None or score != score else \
                f"{label} (sounds like her: {score:.2f})"
            _paragraph(console, shown, sample[label])

        _say(console, "[bold]6/8[/] serving the twin on Ray Serve (RAG + the registered model) "
                      "and asking it for a post")
        served = serve_and_ask(settings, console)
        marks["serve"] = time.monotonic()

        ui_url = settings.ui_url
        _say(console, f"[bold]7/8[/] the web UI: {ui_url} (Profile, Collect, Library, Write, "
                      f"Model); Prefect: {settings.prefect_api_url.removesuffix('/api')}")
        elapsed = time.monotonic() - start
        _say(console, f"[bold]8/8[/] done in {elapsed:.0f}s (services "
                      f"{marks['services'] - start:.0f}s, collect + ingest "
                      f"{marks['collect'] - marks['services']:.0f}s, search "
                      f"{marks['search'] - marks['collect']:.0f}s, dataset + train "
                      f"{marks['train'] - marks['search']:.0f}s, before/after "
                      f"{marks['sample'] - marks['train']:.0f}s, serve + post "
                      f"{marks['serve'] - marks['sample']:.0f}s)")
        if keep_running:
            _say(console, f"everything keeps running: open {ui_url}. The demo sites stay up "
                          "while this command runs: Ctrl-C stops them (`twin down` stops the "
                          "services).")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return {"collect": collected, "hits": len(hits), "dataset": data, "train": trained,
                "sample": sample, "post": served, "ui": ui_url, "seconds": elapsed}
    finally:
        site.stop()
        api.close()
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()  # leave the cluster before it stops: no noise
        if started and not keep_running:
            with Waiting(console, "stopping…", bar=False):
                down(settings, started)
            _say(console, f"stopped what the demo started ({', '.join(started)}); "
                          "`twin demo --keep-running` keeps it up")
