"""The evaluation's generation: every model's pipeline at once on the free CPUs (what
`twin eval` and the gate do) vs one model after the other (the baseline), in one run.

Starts an in-process Ray with ``--cpus`` CPUs, then asks the same held-out-shaped prompts of
``--models`` copies of the base model through :func:`twin.evaluate.generation.generate_answers`,
first one pipeline at a time, then all at once, and prints both wall times and their ratio.
The base model stands in for the twins: how fast a LoRA twin answers does not change what is
measured, the overlap of the pipelines.

    .venv/bin/python benchmarks/evaluate.py [--prompts 4] [--models 2] [--tokens 48]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from twin.settings import Settings

PROMPTS = ["Write a LinkedIn post about why we banned the word 'just' from our postmortems.",
           "Draft a LinkedIn post on what a partner's silent schema change taught us.",
           "Help me write a post about deleting dashboards nobody opened in a quarter.",
           "Write a LinkedIn post about the twelve-minute README test for every repo.",
           "Draft a post on why on-call handoff notes should fit on one screen.",
           "Write a LinkedIn post about testing pipelines with twenty-row fixtures."]


def main() -> int:
    """Measure and print both wall times and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()

    import ray

    from twin.evaluate.generation import generate_answers

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=home,
                            evaluate={"max_new_tokens": args.tokens, "batch_size": 4})
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
        samples = [{"instruction": PROMPTS[i % len(PROMPTS)], "answer": "", "max_words": 120}
                   for i in range(args.prompts)]
        models = {f"base-{i}": (None, 2) for i in range(args.models)}
        generate_answers(settings, samples[:1], {"warm-up": (None, 1)})  # converts the model
        timings = {}
        for label, parallel in (("one model at a time", False), ("all at once", True)):
            start = time.perf_counter()
            answers = generate_answers(settings, samples, models, parallel=parallel)
            timings[label] = time.perf_counter() - start
            assert all(len(a) == args.prompts for a in answers.values())
        ray.shutdown()
    base, fast = timings["one model at a time"], timings["all at once"]
    print(f"{args.models} models x {args.prompts} prompts x 2 drafts x {args.tokens} tokens "
          f"on {args.cpus} CPUs")
    for label, seconds in timings.items():
        print(f"  {label:<20} {seconds:7.1f} s")
    print(f"  ratio (one at a time / all at once): {base / fast:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
