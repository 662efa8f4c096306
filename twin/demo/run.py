"""The README's main command: the demo author end to end on embedded defaults: local Ray,
Milvus, Prefect and the web UI; collect + ingest and dataset + train as Prefect deployment runs;
a search, a before/after sample, the Serve app and a generated post."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from twin.demo.content import AUTHOR_NAME
from twin.demo.site import DemoSite
from twin.report import hits_table, stats_table
from twin.retrieval import search
from twin.services import SERVICES, down, up
from twin.settings import Settings
from twin.warehouse import Warehouse

log = logging.getLogger(__name__)
SAMPLE_QUERY = "a partner changed a column type and the loader broke at 3 a.m."


def _job_printer(console: Console) -> Any:
    def show(line: str) -> None:
        if "::twin-summary::" not in line:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return show


def before_after(settings: Settings, dataset_dir: str, adapter: str,
                 max_new_tokens: int = 120) -> dict[str, str]:
    """The base model's and the twin's answers to the first held-out instruction."""
    from twin.datasets.build import load_split
    from twin.llm.models import generate

    sample = load_split(Path(dataset_dir), "test")[0]
    prompt = [sample["instruction"]]
    cache = str(settings.models_dir)
    decoding = {"top_p": settings.llm.top_p,
                "repetition_penalty": settings.llm.repetition_penalty}
    base = generate(prompt, settings.llm.base_model, cache, max_new_tokens, **decoding)[0]
    twin = generate(prompt, settings.llm.base_model, cache, max_new_tokens, adapter=adapter,
                    **decoding)[0]
    return {"instruction": sample["instruction"], "base model": base, "twin": twin,
            "the author wrote": sample["answer"]}


DEMO_PROMPT = ("Write a LinkedIn post about what a partner's silent schema change taught us "
               "about data contracts")


def serve_and_ask(settings: Settings, console: Console) -> dict[str, Any]:
    """Deploy the Serve app on the demo's Ray head, ask for a post, print it with sources."""
    import httpx
    from rich.table import Table

    from twin.serving import runner

    health = runner.start(settings)
    url = runner.base_url(settings)
    console.print(f"    serving {health['model_version']} ({health['engine']}) at {url} "
                  f"(API docs: {url}/docs)")
    console.print(f"    POST /v1/posts {DEMO_PROMPT!r}", markup=False)
    headers = {"Authorization": f"Bearer {settings.serve.api_key}"} \
        if settings.serve.api_key else {}
    answer = httpx.post(f"{url}/v1/posts", headers=headers, timeout=600,
                        json={"prompt": DEMO_PROMPT, "max_words": 120, "temperature": 0.7})
    answer.raise_for_status()
    data = answer.json()
    console.print(data["post"], markup=False, highlight=False)
    table = Table("score", "platform", "title", "url", title="sources")
    for source in data["sources"]:
        table.add_row(f"{source['score']:.3f}", source["platform"], source["title"],
                      source["url"])
    console.print(table)
    return data


def _run_deployment(api: Any, name: str, params: dict[str, Any], settings: Settings,
                    console: Console) -> dict[str, Any]:
    """Start a Prefect deployment run (as the UI's buttons do), stream its logs, return the
    flow's result: the summaries its tasks left as artifacts and the run itself."""
    from twin.deployments import PrefectError

    started = api.run(name, params)
    console.print(f"    Prefect flow run {started.name} of deployment {name!r}")
    end = api.wait(started.id, settings.prefect.flow_timeout_s * 2,
                   on_log=_job_printer(console))
    if end.state != "COMPLETED":
        raise PrefectError(f"flow run {end.name} ended {end.state}: {end.state_message}")
    return {"run": end, "artifacts": api.artifacts(end.id)}


def run_demo(settings: Settings, keep_running: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    """The whole journey on embedded defaults: local Ray, Milvus, Prefect and the UI; the demo
    author's sites; collect + ingest and dataset + train as Prefect deployment runs (each stage a
    Ray job); a search; a before/after; the Serve app and a post; the UI's address."""
    from twin.deployments import PrefectAPI
    from twin.ui.profile import Profile, save_profile

    console = console or Console()
    start = time.monotonic()
    started = [s.name for s in SERVICES
               if not s.is_external(settings) and not s.is_running(settings)]
    console.print("[bold]1/8[/] starting local services (Ray head with job submission, "
                  "Milvus Lite, a Prefect server and worker with the deployments, the web UI)…")
    for status in up(settings):
        console.print(f"    {status.name}: {status.state} {status.address or ''} "
                      f"{status.detail or ''}")
    api = PrefectAPI.from_settings(settings)
    site = DemoSite(settings.home_dir / "demo", settings.demo_base_port).start()
    try:
        links, exports = site.links(), [str(p) for p in site.exports()]
        overrides = site.settings_overrides()
        # The UI's profile: the Collect page can run the same collection again.
        save_profile(Profile(author=AUTHOR_NAME, links=links, exports=exports,
                             settings_overrides=overrides), settings)
        console.print(f"[bold]2/8[/] demo sites on 127.0.0.1 "
                      f"({', '.join(f'{k} {site.hostport(k)}' for k in site.servers)}); "
                      f"running the 'collect' deployment (collect job, then ingest job): "
                      f"{len(links)} links, {len(exports)} export archives")
        collected = _run_deployment(api, "collect", {
            "author": AUTHOR_NAME, "links": links, "exports": exports, "ingest": True,
            "settings_overrides": overrides}, settings, console)
        console.print("    what the warehouse holds now:")
        console.print(stats_table(Warehouse.from_settings(settings).stats()))
        collected_at = time.monotonic()

        console.print(f"[bold]3/8[/] a sample search of the knowledge base: {SAMPLE_QUERY!r}")
        hits = search(SAMPLE_QUERY, settings, author=AUTHOR_NAME, k=3)
        console.print(hits_table(hits, SAMPLE_QUERY))
        searched_at = time.monotonic()

        steps = settings.demo_train_steps
        console.print(f"[bold]4/8[/] running the 'train' deployment: the dataset job "
                      "(instructions by back-translation; every answer is the author's own "
                      f"text, checked verbatim), then a short LoRA SFT ({steps} steps) on Ray "
                      "Train, registered and marked for serving…")
        # The demo's own head has the machine to itself: give the one worker every core (2 max).
        tuning = {"train": {
            "cpus_per_worker": max(settings.train.cpus_per_worker,
                                   float(min(2, os.cpu_count() or 1))),
            "learning_rate": settings.demo_train_learning_rate,
            "max_length": settings.demo_train_max_length}}
        trained_run = _run_deployment(api, "train", {
            "author": AUTHOR_NAME, "max_steps": steps, "serve": True,
            "settings_overrides": tuning}, settings, console)
        data, trained = _stage_summaries(api, trained_run["run"].id)
        counts = data.get("counts", {})
        console.print(f"    dataset {data.get('version')}: {counts.get('train')} train / "
                      f"{counts.get('test')} test samples from {counts.get('documents')} "
                      f"documents; grounding {data.get('grounding', {}).get('passed')}/"
                      f"{data.get('grounding', {}).get('checked')}")
        sft = trained["sft"]
        console.print(f"    model version {sft['version']}: loss {sft['losses'][0]:.3f} -> "
                      f"{sft['losses'][-1]:.3f} in {sft['steps']} steps ({sft['seconds']:.0f}s)"
                      f"; adapter {sft['adapter']}")
        trained_at = time.monotonic()

        console.print("[bold]5/8[/] before/after on a held-out instruction (same prompt, chat "
                      "template and decoding):")
        sample = before_after(settings, data["path"], sft["adapter"])
        console.print(f"    instruction: {sample['instruction']}", markup=False)
        for label in ("base model", "twin", "the author wrote"):
            console.print(f"[bold]{label}:[/]")
            console.print(sample[label], markup=False, highlight=False)
        sampled_at = time.monotonic()

        console.print("[bold]6/8[/] serving the twin on Ray Serve (RAG + the registered model) "
                      "and asking it for a post…")
        served = serve_and_ask(settings, console)
        served_at = time.monotonic()

        ui_url = f"http://{settings.ui.host}:{settings.ui.port}"
        console.print(f"[bold]7/8[/] the web UI is at [bold]{ui_url}[/] (Profile, Collect, "
                      f"Library, Write, Model); Prefect's dashboard at "
                      f"{settings.prefect_api_url.removesuffix('/api')}")
        elapsed = time.monotonic() - start
        console.print(f"[bold]8/8[/] demo finished in {elapsed:.0f}s (services and collect + "
                      f"ingest {collected_at - start:.0f}s, search "
                      f"{searched_at - collected_at:.0f}s, dataset + train "
                      f"{trained_at - searched_at:.0f}s, before/after "
                      f"{sampled_at - trained_at:.0f}s, serve + post "
                      f"{served_at - sampled_at:.0f}s)")
        if keep_running:
            console.print(f"everything keeps running: open {ui_url}. The demo sites stay up "
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
            down(settings, started)
            console.print(f"stopped what this demo started ({', '.join(started)}); use "
                          "--keep-running to keep it")


def _stage_summaries(api: Any, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dataset and train jobs' summaries, from the train flow run's logs."""
    from twin.rayjobs import SUMMARY_MARKER

    summaries = [json.loads(line["message"].split(SUMMARY_MARKER, 1)[1])
                 for line in api.all_logs(run_id) if SUMMARY_MARKER in line["message"]]
    dataset = next(s for s in summaries if "counts" in s)
    trained = next(s for s in summaries if "sft" in s)
    return dataset, trained
