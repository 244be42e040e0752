"""`make eval`: story quality per model, from stories played through the real pipeline.

    python -m bench.story_eval                      # the fake Ollama: the pipeline only
    OLLAMA_URL=http://127.0.0.1:11434 OLLAMA_MODEL=llama3.1:8b,qwen2.5:7b \
        python -m bench.story_eval --stories 6 --parts 5

Without OLLAMA_URL a fake Ollama is started here; its replies are scripted, so the figures
then measure the pipeline (parsing, memory, timing), never a model.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.eval_metrics import ModelTally
from bench.eval_run import EvalPlan, evaluate_model
from bench.eval_table import ending_lines, render
from storycraft_bot.core.models import Language
from tests.fake_ollama import FakeOllama
from tests.tiny_ollama import MODEL_NAME, running

FAKE_NOTE = (
    "fake Ollama (tests/fake_ollama.py): scripted replies, so these figures measure the "
    "pipeline only, not story quality"
)


def _plan(argv: Sequence[str]) -> tuple[EvalPlan, list[str], bool]:
    parser = argparse.ArgumentParser(prog="make eval", description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=4)
    parser.add_argument("--parts", type=int, default=6, help="parts per story")
    parser.add_argument("--languages", default="ru,en", help="comma-separated: ru,en")
    parser.add_argument("--genres", default="fantasy,mystery", help="comma-separated")
    parser.add_argument("--words", type=int, default=120, help="target words per part")
    parser.add_argument(
        "--models", default="", help="comma-separated; default OLLAMA_MODEL or STORY_MODEL"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--short",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="share of the stories played short (about 8 parts, whatever --parts says) "
        "to count the endings reached; 0 none, 1 all (default 0.5)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="serve SmolLM2-135M here (tests/tiny_ollama.py; needs the [eval] extra)",
    )
    args = parser.parse_args(argv)
    plan = EvalPlan(
        stories=max(1, args.stories),
        parts=max(1, args.parts),
        languages=tuple(Language(code.strip()) for code in args.languages.split(",") if code),
        genres=tuple(g.strip() for g in args.genres.split(",") if g.strip()) or ("fantasy",),
        words=args.words,
        seed=args.seed,
        short_share=min(1.0, max(0.0, args.short)),
    )
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    return plan, models, args.tiny


async def _run(plan: EvalPlan, models: list[str], tiny: bool) -> int:
    if tiny:
        log = Path(tempfile.gettempdir()) / "storycraft-tiny-ollama.log"
        print(f"starting SmolLM2-135M (llama.cpp log: {log})", flush=True)
        async with running(log_path=log) as url:
            return await _measure(url, plan, [MODEL_NAME], None)
    url = os.environ.get("OLLAMA_URL", "").strip()
    if url:
        return await _measure(url, plan, models, None)
    fake = FakeOllama()
    try:
        url = await fake.start()
        return await _measure(url, plan, models or [fake.models[0]], fake)
    finally:
        await fake.stop()


async def _measure(url: str, plan: EvalPlan, models: list[str], fake: FakeOllama | None) -> int:
    models = models or [
        m.strip()
        for m in (os.environ.get("OLLAMA_MODEL") or os.environ.get("STORY_MODEL", "")).split(",")
        if m.strip()
    ]
    if not models:
        print("make eval: set OLLAMA_MODEL (or --models) to the model(s) to measure")
        return 2
    print(f"Ollama: {url}" + (f" — {FAKE_NOTE}" if fake else ""))
    print(
        f"{plan.stories} stories × {plan.parts} parts ({plan.short_stories} of them short, "
        f"played to their ending), languages "
        f"{','.join(lang.value for lang in plan.languages)}, genres {','.join(plan.genres)}, "
        f"target {plan.words} words and {plan.choices} choices a part"
    )
    tallies: list[ModelTally] = []
    for model in models:
        started = time.perf_counter()
        tally = await evaluate_model(url, model, plan)
        if fake is not None:
            tally.model = f"fake Ollama ({model})"
        tallies.append(tally)
        print(f"  {model}: {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print(render(tallies))
    if lines := ending_lines(tallies):
        print("\n" + "\n".join(lines))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    plan, models, tiny = _plan(sys.argv[1:] if argv is None else argv)
    return asyncio.run(_run(plan, models, tiny))


if __name__ == "__main__":
    sys.exit(main())
