"""PNG plots of a bench/run.py result (the only module that imports matplotlib).

    .venv/bin/python bench/plots.py bench/results/cpu.json     # rewrites the PNGs beside it

- <stem>_speedup.png: PyTorch time / jaxnlp time per case (forward,
  generation, pipelines), log scale; right of 1 = jaxnlp faster. With the
  Flax peer (`run.py --peers flax`), a second bar per case: Flax time /
  jaxnlp time.
- <stem>_roofline.png: measured time / roofline floor for both frameworks
  (and the Flax peer when present; forward and generation); 1 = the
  hardware limit, log scale.
- <stem>_first_result.png: files -> first result (load + first call) per way
  of starting, fresh processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _cases(data: dict):
    """(label, row) for every timed case with both sides."""
    s = data["suites"]
    for block in s.get("forward", []):
        for r in block["rows"]:
            yield f"forward {block['model']} {r['batch']}x{r['seq']}", r
    for block in s.get("generate", []):
        for r in block["rows"]:
            yield f"generate {block['model']} b{r['batch']} {r['mode']}", r


def _title(data: dict, what: str) -> str:
    return f"{what} - {data['device_kind']}, {data['dtype']}" + (" (quick)" if data.get("quick") else "")


def plot(data: dict, out: Path, stem: str) -> list[Path]:
    plt = _plt()
    written = []
    labels, speedups, vs_flax = [], [], []
    for label, r in _cases(data):
        labels.append(label)
        speedups.append(r["speedup"])
        vs_flax.append(r.get("speedup_vs_flax"))
    for r in data["suites"].get("pipelines", []):
        if "speedup" in r:
            labels.append(f"pipeline {r['task']}")
            speedups.append(r["speedup"])
            vs_flax.append(None)
    if speedups:
        flax = any(v is not None for v in vs_flax)
        fig, ax = plt.subplots(figsize=(8, (0.42 if flax else 0.28) * len(labels) + 1.2))
        colors = ["tab:green" if v >= 1 else "tab:red" for v in speedups]
        ys = range(len(labels))
        if flax:
            ax.barh([y - 0.2 for y in ys], speedups, height=0.4, color="tab:green", label="vs PyTorch")
            ax.barh([y + 0.2 for y in ys if vs_flax[y] is not None], [v for v in vs_flax if v is not None],
                    height=0.4, color="tab:purple", label="vs Flax (transformers 4.46)")
            ax.legend(fontsize=7)
        else:
            ax.barh(ys, speedups, color=colors)
        ax.set_yticks(ys, labels, fontsize=7)
        ax.invert_yaxis()
        _log_x(ax)
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xlabel("speedup = other framework's time / jaxnlp time (same run)" if flax
                      else "speedup = PyTorch time / jaxnlp time (same run)")
        ax.set_title(_title(data, "jaxnlp vs transformers"), fontsize=9)
        written.append(_save(fig, out / f"{stem}_speedup.png"))

    rows = [(label, r) for label, r in _cases(data) if "jaxnlp_over_floor" in r]
    if rows:
        flax = any("flax_over_floor" in r for _, r in rows)
        fig, ax = plt.subplots(figsize=(8, (0.5 if flax else 0.36) * len(rows) + 1.2))
        ys = range(len(rows))
        h = 0.27 if flax else 0.4
        ax.barh([y - h / 2 - (h / 2 if flax else 0) for y in ys], [r["jaxnlp_over_floor"] for _, r in rows],
                height=h, label="jaxnlp")
        ax.barh([y + h / 2 - (h / 2 if flax else 0) for y in ys], [r["torch_over_floor"] for _, r in rows],
                height=h, label="PyTorch")
        if flax:
            ax.barh([y + h for y, (_, r) in zip(ys, rows) if "flax_over_floor" in r],
                    [r["flax_over_floor"] for _, r in rows if "flax_over_floor" in r], height=h,
                    label="Flax (transformers 4.46)")
        ax.set_yticks(list(ys), [label for label, _ in rows], fontsize=7)
        ax.invert_yaxis()
        _log_x(ax)
        ax.axvline(1, color="black", lw=0.8)
        p = data["suites"]["roofline"]
        ax.set_xlabel(f"measured / roofline floor (peak {p['matmul_gflops']:.0f} GFLOP/s, "
                      f"{p['bandwidth_gbs']:.0f} GB/s); 1 = hardware limit")
        ax.legend(fontsize=8)
        ax.set_title(_title(data, "distance to the roofline"), fontsize=9)
        written.append(_save(fig, out / f"{stem}_roofline.png"))

    blocks = data["suites"].get("load", [])
    if blocks:
        fig, axes = plt.subplots(1, len(blocks), figsize=(5.5 * len(blocks), 3.2), squeeze=False)
        for ax, block in zip(axes[0], blocks):
            names = list(block["rows"])
            load = [block["rows"][n]["load_s"]["median"] for n in names]
            first = [block["rows"][n]["first_call_s"]["median"] for n in names]
            ax.barh(range(len(names)), load, label="load")
            ax.barh(range(len(names)), first, left=load, label="first call (compile + run)")
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("seconds, files -> first result")
            ax.set_title(f"{block['model']}: {block['what']}", fontsize=8)
        axes[0][0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
        fig.suptitle(_title(data, "time to first result (fresh process)"), fontsize=9)
        written.append(_save(fig, out / f"{stem}_first_result.png"))
    return written


def _log_x(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="x", which="minor", labelsize=6)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def main() -> None:
    path = Path(sys.argv[1])
    for p in plot(json.loads(path.read_text()), path.parent, path.stem):
        print(p)


if __name__ == "__main__":
    main()
