"""Markdown tables of the committed benchmark runs in bench/results/.

    .venv/bin/python bench/table.py [cpu]          # the older per-script runs README.md shows
    .venv/bin/python bench/table.py bench/results/cpu.json   # a bench/run.py run (what run.py writes as .md)

Generation: bench/results/generate_<device>_<model>.json (bench/generate.py
--json); loading: bench/results/load_cpu.json (bench/load.py --json);
everything: bench/results/<device>[_<dtype>].json (bench/run.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import host_line

RESULTS = Path(__file__).resolve().parent / "results"


def generation_table(paths: list[Path]) -> str:
    lines = ["| model | batch | prompt/source | new | mode | jaxnlp s | first call s | PyTorch s | speedup | same tokens |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        data = json.loads(path.read_text())
        for r in data["rows"]:
            lines.append(f"| {data['model']} | {r['batch']} | {r['prompt']} | {r['new']} | {r['mode']} | "
                         f"{r['jaxnlp_s']:.3f} | {r['jaxnlp_first_call_s']:.2f} | {r['torch_s']:.3f} | "
                         f"{r['speedup']:.2f}x | {'yes' if r['same_tokens'] else 'NO'} |")
    return "\n".join(lines)


def load_table(path: Path) -> str:
    data = json.loads(path.read_text())
    lines = ["| | load s | first call s | files -> result s | steady call s |", "|---|---|---|---|---|"]
    for name, r in data["rows"].items():
        med = {k: v["median"] for k, v in r.items()}
        lines.append(f"| {name} | {med['load_s']:.2f} | {med['first_call_s']:.2f} | "
                     f"{med['files_to_result_s']:.2f} | {med['steady_call_s']:.3f} |")
    return "\n".join(lines)


def _ms(s: float) -> str:
    return f"{s * 1e3:.1f}" if s < 1 else f"{s:.2f} s"


def _spread(r: dict, side: str) -> str:
    lo, hi = r[f"{side}_spread"]
    return f"{_ms(r[f'{side}_s'])} ({_ms(lo)}-{_ms(hi)})"


def _mem(memory: dict, side: str) -> str:
    m = memory[side]
    return f"{m['peak_device_mb']:.0f}" if m.get("peak_device_mb") is not None else f"{m['peak_rss_mb']:.0f}"


def _floor(r: dict, side: str) -> str:
    return f"{r[f'{side}_over_floor']:.1f}x" if f"{side}_over_floor" in r else "-"


def _packed_note(blocks) -> list[str]:
    """The packed copies jaxnlp.native made for these rows (largest per model), if any."""
    sizes = {b["model"]: max(r.get("native_packed_mb", 0.0) for r in b["rows"]) for b in blocks}
    if not any(sizes.values()):
        return []
    return ["", "jaxnlp.native's packed kernel copies (in jaxnlp's peak memory): "
            + ", ".join(f"{m} {mb:.0f} MB" for m, mb in sizes.items()) + "."]


def _has_flax(blocks: list) -> bool:
    return any("flax" in b or "flax_error" in b for b in blocks)


def _flax_cols(block: dict, r: dict, tokens: bool = False) -> str:
    """The Flax peer's cells (time, first call, jaxnlp's speedup over it[, same tokens]) of one row."""
    n = 4 if tokens else 3
    if "flax_error" in block:
        return " | ".join(["failed"] + [""] * (n - 1)) + " | "
    if "flax_unsupported" in r:
        return " | ".join([f"unsupported: {r['flax_unsupported'][:60]}"] + [""] * (n - 1)) + " | "
    cells = [_spread(r, "flax"), f"{r['flax_first_call_s']:.2f}", f"{r['speedup_vs_flax']:.2f}x"]
    if tokens:
        cells.append({True: "yes", False: "NO"}.get(r.get("same_tokens_flax"), "n/a (sampling)"))
    return " | ".join(cells) + " | "


def _mems(block: dict, flax: bool) -> str:
    m = block["memory"]
    return f"{_mem(m, 'jaxnlp')} / {_mem(m, 'torch')}" + (f" / {_mem(m, 'flax')}" if flax and "flax" in m else
                                                          (" / -" if flax else ""))


def _flax_note(blocks: list) -> list[str]:
    for b in blocks:
        if "flax" in b:
            v = b["flax"]["versions"]
            return ["", f"Flax = the transformers Flax classes (transformers {v['transformers']}, jax {v['jax']}, "
                        f"flax {v['flax']}; .venvflax), forward and generate under jax.jit; vs Flax = Flax / jaxnlp; "
                        "Flax tokens compared with PyTorch's."]
    return []


def run_tables(data: dict) -> str:
    """Markdown for one bench/run.py result (times in ms unless marked s;
    median (min-max); speedup = PyTorch / jaxnlp; floor = the roofline)."""
    suites = data["suites"]
    v = data["versions"]
    mem_kind = "device" if data["torch_device"] == "cuda" else "host RSS"
    out = [f"Device {data['device']} ({data['device_kind']}), {data['dtype']}; jax {v['jax']}, torch {v['torch']} "
           f"({data['torch_device']}), transformers {v['transformers']}; repeats {data['config']['repeats']}"
           + (f" in each of {data['config']['rounds']} alternating jaxnlp / PyTorch rounds (forward, generate)"
              if data["config"].get("rounds", 1) > 1 else "")
           + (" (quick: tiny models)" if data["quick"] else "") + f"; whole run {data.get('wall_s', 0) / 60:.1f} min."]
    if data.get("host"):
        out += ["", host_line(data["host"])]
    if data.get("native"):
        out += ["", f"jaxnlp's native CPU decoding kernel (jaxnlp.native): {data['native']}."]
    if "roofline" in suites:
        p = suites["roofline"]
        out += ["", f"Roofline: matmul peak {p['matmul_gflops']:.1f} GFLOP/s ({p['dtype']}, {p['matmul_n']}^2), "
                    f"memory bandwidth {p['bandwidth_gbs']:.1f} GB/s (read {p['read_gbs']:.1f}, "
                    f"copy {p['copy_gbs']:.1f})"
                    + (f"; float32 at Precision.HIGHEST {p['matmul_gflops_highest']:.0f} GFLOP/s (jax's default "
                       "float32 matmul on this GPU is TF32-like, PyTorch's is not)" if "matmul_gflops_highest" in p
                       else "")
                    + (f"; the better of two measurements, at the run's start (matmul {p['start']['matmul_gflops']:.1f}, "
                       f"bandwidth {p['start']['bandwidth_gbs']:.1f}) and end ({p['end']['matmul_gflops']:.1f}, "
                       f"{p['end']['bandwidth_gbs']:.1f})" if "end" in p else "") + "."]
    if suites.get("load"):
        out += ["", "Files -> first result, fresh processes (seconds, median):", "",
                "| model | | load | first call | files -> result | steady call | peak RSS MB |",
                "|---|---|---|---|---|---|---|"]
        for block in suites["load"]:
            for name, r in block["rows"].items():
                med = {k: x["median"] for k, x in r.items()}
                out.append(f"| {block['model']} ({block['what']}) | {name} | {med['load_s']:.2f} | "
                           f"{med['first_call_s']:.2f} | {med['files_to_result_s']:.2f} | "
                           f"{med['steady_call_s']:.3f} | {med.get('peak_rss_mb', 0):.0f} |")
    if suites.get("forward"):
        fx = _has_flax(suites["forward"])
        out += ["", f"Forward (ms; peak memory: {mem_kind} MB of each framework's process):", "",
                "| model | batch x seq | jaxnlp | first call s | PyTorch | speedup | "
                + ("Flax | Flax first call s | vs Flax | " if fx else "") + "GFLOP/s | jaxnlp / floor | "
                "PyTorch / floor | " + ("Flax / floor | " if fx else "") + "peak MB jaxnlp / PyTorch"
                + (" / Flax" if fx else "") + " |", "|---" * (10 + 4 * fx) + "|"]
        for block in suites["forward"]:
            for r in block["rows"]:
                out.append(f"| {block['model']} | {r['batch']} x {r['seq']} | {_spread(r, 'jaxnlp')} | "
                           f"{r['jaxnlp_first_call_s']:.2f} | {_spread(r, 'torch')} | {r['speedup']:.2f}x | "
                           + (_flax_cols(block, r) if fx else "") +
                           f"{r.get('achieved_gflops', 0):.1f} | {_floor(r, 'jaxnlp')} | {_floor(r, 'torch')} | "
                           + (f"{_floor(r, 'flax')} | " if fx else "") + f"{_mems(block, fx)} |")
        out += _flax_note(suites["forward"]) + _packed_note(suites["forward"])
    if suites.get("generate"):
        g, gx = data["config"], _has_flax(suites["generate"])
        out += ["", f"Generation, {g['prompt']}-token prompt/source, {g['new']} new tokens, eos unset "
                    "(ms unless s; decode GB/s = weights + KV cache read per step / time):", "",
                "| model | batch | mode | jaxnlp | first call s | PyTorch | speedup | "
                + ("Flax | Flax first call s | vs Flax | Flax same tokens | " if gx else "")
                + "decode GB/s | jaxnlp / floor | PyTorch / floor | " + ("Flax / floor | " if gx else "")
                + ("same tokens (jaxnlp) | " if gx else "same tokens | ") + "peak MB jaxnlp / PyTorch" + (" / Flax" if gx else "") + " |",
                "|---" * (12 + 5 * gx) + "|"]
        for block in suites["generate"]:
            for r in block["rows"]:
                same = {True: "yes", False: "NO"}.get(r.get("same_tokens"), "n/a (sampling)")
                out.append(f"| {block['model']} | {r['batch']} | {r['mode']} | {_spread(r, 'jaxnlp')} | "
                           f"{r['jaxnlp_first_call_s']:.2f} | {_spread(r, 'torch')} | {r['speedup']:.2f}x | "
                           + (_flax_cols(block, r, tokens=True) if gx else "") +
                           f"{r.get('achieved_gbs', 0):.1f} | {_floor(r, 'jaxnlp')} | {_floor(r, 'torch')} | "
                           + (f"{_floor(r, 'flax')} | " if gx else "") + f"{same} | {_mems(block, gx)} |")
        out += _flax_note(suites["generate"]) + _packed_note(suites["generate"])
    if suites.get("pipelines"):
        out += ["", "Pipelines (items/s, median of the timed calls after a first call):", "",
                "| task | model | items | jaxnlp items/s | first call s | PyTorch items/s | PyTorch side | speedup | "
                "same output | useful GFLOP/s jaxnlp / PyTorch | jaxnlp / floor | PyTorch / floor | "
                f"computed / useful FLOPs jaxnlp / PyTorch | peak {mem_kind} MB jaxnlp / PyTorch |",
                "|---" * 14 + "|"]
        for r in suites["pipelines"]:
            if "skipped" in r:
                out.append(f"| {r['task']} | | | skipped: {r['skipped']} |" + " |" * 10)
                continue
            j, t = r["jaxnlp"], r.get("torch")
            speedup = f"{r['speedup']:.2f}x" if t else "-"
            same = {True: "yes", False: "no"}[r["same_output"]] if t else "-"
            torch_rate = f"{t['items_per_s']:.1f}" if t else "-"
            out.append(f"| {r['task']} | {r['model']} | {j['items']} | {j['items_per_s']:.1f} | "
                       f"{j['first_call_s']:.2f} | {torch_rate} | {t['device'] if t else r.get('note', '')} | "
                       f"{speedup} | {same} | {_pipeline_flops(r)} | "
                       f"{_mem(r, 'jaxnlp')} / {_mem(r, 'torch') if t else '-'} |")
        if any("floor_s" in r for r in suites["pipelines"]):
            out += ["", "Useful FLOPs count each item at its own token count (every Dense kernel per token, "
                    "attention per layer, as the forward rows); computed FLOPs the padded shapes each framework "
                    "ran (jaxnlp: length and batch buckets; PyTorch: the longest item of each batch); floor = "
                    "useful FLOPs at the measured matmul peak. Generating tasks: no floor here (the generate "
                    "rows have it)."]
    return "\n".join(out)


def _pipeline_flops(r: dict) -> str:
    """The FLOP columns of a pipeline row (4 cells; "-" where not measured)."""
    sides = [r[s] for s in ("jaxnlp", "torch") if s in r]
    if "floor_s" not in r:
        return " | ".join(["-"] * 4)
    rates = " / ".join(f"{s['useful_gflops']:.1f}" for s in sides)
    floors = [f"{s['over_floor']:.2f}x" for s in sides] + ["-"] * (2 - len(sides))
    padding = " / ".join(f"{s['computed_flops'] / r['useful_flops']:.2f}" for s in sides)
    return f"{rates} | {floors[0]} | {floors[1]} | {padding}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].endswith(".json"):
        print(run_tables(json.loads(Path(sys.argv[1]).read_text())))
        return
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    order = ["gpt2", "bart-base", "marian", "t5-small"]
    paths = [RESULTS / f"generate_{device}_{m}.json" for m in order]
    paths = [p for p in paths if p.exists()]
    if paths:
        print(generation_table(paths))
    if (RESULTS / f"load_{device}.json").exists():
        print()
        print(load_table(RESULTS / f"load_{device}.json"))


if __name__ == "__main__":
    main()
