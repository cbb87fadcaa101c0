"""Markdown tables of the committed benchmark runs in bench/results/.

    .venv/bin/python bench/table.py            # prints what README.md shows

Generation: bench/results/generate_<device>_<model>.json (bench/generate.py
--json); loading: bench/results/load_cpu.json (bench/load.py --json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def main() -> None:
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
