"""The README's main job (scripts/main.sh -> scripts/embed_demo.py) on the real all-MiniLM-L6-v2:
it runs, pairs the sentences by meaning, and prints keywords drawn from the text."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "embed_demo.py"


def test_main_job(capsys):
    spec = importlib.util.spec_from_file_location("embed_demo", SCRIPT)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    assert "384-dim embeddings of 5 sentences" in out
    assert "closest to 'A man is playing a guitar.': 'Someone plays an instrument on stage.'" in out
    assert "closest to 'The new movie is awesome.': 'The film was great fun to watch.'" in out
    keywords = [k.split(" (")[0] for k in out.split("keywords (MMR): ")[1].strip().split(", ")]
    text = " ".join(demo.SENTENCES).lower()
    assert len(keywords) == 5 and all(k in text for k in keywords), keywords
