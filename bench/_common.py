"""Helpers shared by the benchmarks: fresh-process timing, medians, peak
memory, device names and the random checkpoints' texts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PATH = os.pathsep.join([str(ROOT), str(ROOT / "bench")])   # jaxnlp and the bench modules


def run_fresh(code: str, env: dict | None = None) -> dict:
    """Run `code` in a fresh Python process; it prints one JSON line last."""
    full_env = {**os.environ, "PYTHONPATH": PATH, **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_script(script: Path, spec: dict, python: str | None = None, env: dict | None = None,
               timeout: float | None = None) -> dict:
    """Run `python script --worker JSON` in a fresh process (another venv's
    interpreter if `python` is given); its last stdout line is the JSON result."""
    full_env = {**os.environ, "PYTHONPATH": PATH, **(env or {})}
    out = subprocess.run([python or sys.executable, str(script), "--worker", json.dumps(spec)],
                         capture_output=True, text=True, env=full_env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{Path(script).name} worker failed ({spec.get('suite', '')} "
                           f"{spec.get('model', '')} {spec.get('framework', '')}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def time_calls(fn, repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls of `fn` (which must block until its result is ready)."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def host_peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB): VmHWM on Linux (it
    starts afresh at exec, where ru_maxrss keeps the forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def jax_peak_mb() -> float | None:
    """Peak device memory the jax allocator handed out (MiB); None on CPU."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def torch_peak_mb() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "asimd", "sve")


def host_info() -> dict:
    """The host CPU a run measured on: model name (with family/model numbers,
    as VMs often show only "AMD EPYC" or "Intel Xeon"), logical CPUs this
    process may use, and which of the vector ISAs matmul kernels pick from it
    has. The same 2-core VM class has been seen with matmul peaks of ~200 and
    ~430 GFLOP/s, so a result says which host it came from."""
    import platform

    info = {"cpu": platform.processor() or platform.machine(), "family": None, "model": None, "isa": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    fields: dict = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:
                break                                     # the first processor's block is enough
            continue
        fields.setdefault(key.strip(), value.strip())
    info["cpu"] = fields.get("model name", info["cpu"])
    info["family"], info["model"] = fields.get("cpu family"), fields.get("model")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    info["isa"] = [f for f in ISA_FLAGS if f in flags]
    try:
        info["logical_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["logical_cpus"] = os.cpu_count()
    return info


def host_line(host: dict | None) -> str:
    """One line for a results table; "" for results written before hosts were recorded."""
    if not host:
        return ""
    ident = f" (family {host['family']}, model {host['model']})" if host.get("family") else ""
    return (f"Host CPU: {host['cpu']}{ident}, {host['logical_cpus']} logical CPUs, "
            f"{' '.join(host['isa']) or 'no listed vector ISA'}.")


def device_name() -> str:
    """A short name for result files: "cpu", or the GPU's (h100, h200, a100...)."""
    import jax

    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return "cpu"
    kind = dev.device_kind.lower()
    for name in ("h200", "h100", "a100", "l40s", "l4", "a10", "v100", "t4"):
        if name in kind:
            return name
    return dev.platform


WORDS = ("the of and to in is was for on that with by as at from his her an were are which this be has had it not "
         "or have one their also first new after who they two been its all more time year city other film world "
         "people when only into would state over may most some music team between school known later during "
         "government made part house three many series season game used well then history where both river "
         "second war under north south national including while group church through around since however "
         "album named number built public along played center several early family life work area became "
         "company great united released called different found village county best within until league "
         "village children market station street morning evening quickly slowly beautiful terrible paris london "
         "berlin john mary smith microsoft apple research university football mountain island bridge").split()


def texts(n: int, words: int, seed: int = 0) -> list[str]:
    """`n` English-like sentences of about `words` words each (deterministic)."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = max(1, int(words * rng.uniform(0.8, 1.2)))
        sentence = " ".join(rng.choice(WORDS) for _ in range(k))
        out.append(sentence[0].upper() + sentence[1:] + ".")
    return out
