"""Body of tests/test_sharding.py's multi-device cases, run as a subprocess:
XLA fixes the CPU device count when the backend starts, so this process sets
XLA_FLAGS=--xla_force_host_platform_device_count=8 before importing jax.

Usage: python tests/sharding_cases.py WORKDIR  -> one JSON line on stdout:
{case: {"ok": bool, ...details}}; every case runs even when another fails.
References are the same checkpoints loaded without a mesh (device 0)."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

# LLVM optimisation off: compiles ~35% faster; it applies to the references and
# the sharded runs alike, and GSPMD partitioning (HLO passes) is unaffected.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
                           " --xla_backend_optimization_level=0").strip()
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxnlp  # noqa: E402
from jaxnlp.sharding import make_mesh, shard_batch, shard_model  # noqa: E402
from support.pipelines import checkpoint  # noqa: E402
from support.tiny import padded_batch  # noqa: E402
from support.tiny_lm import left_padded, make_lm, save_lm  # noqa: E402
from support.tiny_seq2seq import make_seq2seq, source_batch, target_batch  # noqa: E402

MESHES = {"2x4": (2, 4), "8x1": (8, 1), "1x8": (1, 8)}
# leaves whose placement the test checks: model -> {label: path}
LEAVES = {
    "bert": {"attention": "bert/encoder/layers_0/attention/query/kernel",
             "attention_out": "bert/encoder/layers_0/attention/output/kernel",
             "ffn_in": "bert/encoder/layers_0/intermediate/kernel",
             "ffn_in_bias": "bert/encoder/layers_0/intermediate/bias",
             "ffn_out": "bert/encoder/layers_0/output/kernel",
             "embedding": "bert/embeddings/word_embeddings/embedding",
             "norm": "bert/encoder/layers_0/output_norm/scale"},
    "gpt2": {"attention": "transformer/h_0/attn/qkv/kernel",
             "attention_out": "transformer/h_0/attn/output/kernel",
             "ffn_in": "transformer/h_0/mlp/c_fc/kernel",
             "ffn_out": "transformer/h_0/mlp/c_proj/kernel",
             "embedding": "transformer/wte/embedding",
             "lm_head": "lm_head/kernel"},
    "bart": {"attention": "model/encoder/layers_0/self_attn/query/kernel",
             "cross_attention": "model/decoder/layers_0/encoder_attn/key/kernel",
             "ffn_in": "model/encoder/layers_0/fc1/kernel",
             "embedding": "model/shared/embedding"},
    "t5": {"attention": "encoder/block_0/self_attn/query/kernel",
           "attention_out": "decoder/block_0/cross_attn/output/kernel",
           "ffn_in": "decoder/block_0/ff/wi_1/kernel",
           "ffn_out": "encoder/block_0/ff/wo/kernel",
           "relative_bias": "encoder/relative_attention_bias/embedding",
           "lm_head": "lm_head/kernel"},
}


def build(work: Path) -> dict:
    """Checkpoint directories. Sizes are chosen so that some dimensions do not
    divide by 4 or 8: BERT has 6 heads (attention replicated on model=4/8) and a
    99-token vocabulary; BART's feed-forward widths are 37 / 29."""
    dirs = {}
    dirs["bert"], _ = checkpoint("bert", "sequence-classification", work / "bert", hidden_size=48,
                                 num_attention_heads=6, intermediate_size=64,
                                 id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                                 label2id={"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2})
    dirs["gpt2"] = save_lm(make_lm("gpt2"), work / "gpt2", generation_config=dict(eos_token_id=5, pad_token_id=1))
    make_seq2seq("bart", seed=3).save_pretrained(work / "bart")
    dirs["bart"] = work / "bart"
    make_seq2seq("t5-v1_1", num_heads=4, d_ff=32).save_pretrained(work / "t5")
    dirs["t5"] = work / "t5"
    return dirs


TASKS = {"bert": "sequence-classification", "gpt2": "causal-lm", "bart": "seq2seq-lm", "t5": "seq2seq-lm"}
GENERATIVE = ("gpt2", "bart")      # (T5: placement and forward only, to keep the run short)


def inputs(name: str) -> dict:
    if name == "bert":
        batch = padded_batch("bert")            # 3 rows: does not divide data=2 / 8
        return {k: v for k, v in batch.items()}
    if name == "gpt2":
        ids, mask = left_padded([7, 5, 3, 6], seed=2)
        return {"input_ids": ids, "attention_mask": mask}
    case = "t5-v1_1" if name == "t5" else "bart"
    return {**source_batch(case), **target_batch(case)}


def generate_inputs(name: str):
    if name == "gpt2":
        return left_padded([7, 5, 3], seed=2)
    batch = source_batch("bart", seed=4, lengths=(11, 8, 6))
    return batch["input_ids"], batch["attention_mask"]


def leaf(params, path: str):
    for key in path.split("/"):
        params = params[key]
    return params


def compare(got, ref) -> dict:
    """rel_error as in tests/support/tiny.py: max |got - ref| / max |ref|."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    return {"rel_error": float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))), "ref_std": float(ref.std())}


def run(work: Path) -> dict:
    dirs = build(work)
    results = {}

    def case(name, fn):
        start = time.perf_counter()
        try:
            results[name] = {"ok": True, **(fn() or {})}
        except Exception:                      # noqa: BLE001 - reported to the test
            results[name] = {"ok": False, "error": traceback.format_exc()}
        results[name]["seconds"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    refs = {name: jaxnlp.load_model(d, task=TASKS[name]) for name, d in dirs.items()}
    ref_out = {name: np.asarray(refs[name](**inputs(name))) for name in dirs}
    gen_ref = {}
    for name in GENERATIVE:
        ids, mask = generate_inputs(name)
        gen_ref[name] = {"greedy": jaxnlp.generate(refs[name], ids, mask, max_new_tokens=10),
                         "beam": jaxnlp.generate(refs[name], ids, mask, max_new_tokens=10, num_beams=3,
                                                 num_return_sequences=2)}
    results["references"] = {"ok": True, "seconds": round(time.perf_counter() - start, 2)}

    for mesh_name, shape in MESHES.items():
        mesh = make_mesh(*shape)
        models_here = ("bert", "gpt2", "bart") + (("t5",) if mesh_name == "2x4" else ())
        for name in models_here:
            model = jaxnlp.load_model(dirs[name], task=TASKS[name], mesh=mesh)

            def placement(model=model, name=name):
                out = {}
                for label, path in LEAVES.get(name, {}).items():
                    x = leaf(model.params, path)
                    out[label] = {"shape": list(x.shape), "spec": [a for a in x.sharding.spec],
                                  "shard": list(x.addressable_shards[0].data.shape),
                                  "devices": len(x.sharding.device_set)}
                return {"leaves": out}

            def forward(model=model, name=name):
                got = np.asarray(model(**inputs(name)))
                return compare(got, ref_out[name])

            case(f"placement/{name}/{mesh_name}", placement)
            case(f"forward/{name}/{mesh_name}", forward)
            if name not in GENERATIVE:
                continue
            ids, mask = generate_inputs(name)
            for mode, kw in (("greedy", {}), ("beam", {"num_beams": 3, "num_return_sequences": 2})):
                def gen(model=model, name=name, mode=mode, kw=kw, ids=ids, mask=mask):
                    got = jaxnlp.generate(model, ids, mask, max_new_tokens=10, **kw)
                    ref = gen_ref[name][mode]
                    return {"equal": bool(got.shape == ref.shape and (got == ref).all()),
                            "distinct_new": int(len(np.unique(ref[:, -10:]))), "got": got.tolist(),
                            "ref": ref.tolist()}
                case(f"generate/{name}/{mesh_name}/{mode}", gen)

    def pipeline_case():
        mesh = make_mesh(2, 4)
        texts = ["the quick brown fox", "I loved this movie!", "terrible acting, bad plot", "ok", "paris"]
        ref = jaxnlp.pipeline("text-classification", model=dirs["bert"])(texts, top_k=None)
        got = jaxnlp.pipeline("text-classification", model=dirs["bert"], mesh=mesh)(texts, top_k=None)
        labels_equal = [[x["label"] for x in r] for r in ref] == [[x["label"] for x in g] for g in got]
        diff = max(abs(a["score"] - b["score"]) for r, g in zip(ref, got) for a, b in zip(r, g))
        top = [r[0]["score"] for r in ref]
        return {"labels_equal": labels_equal, "max_diff": float(diff), "top_score_spread": max(top) - min(top)}
    case("pipeline/text-classification/2x4", pipeline_case)

    def explicit_mesh_case():
        # jax.make_mesh gives Explicit axes by default; load_model rebuilds it with Auto axes
        mesh = jax.make_mesh((2, 4), ("data", "model"))
        model = jaxnlp.load_model(dirs["gpt2"], task="causal-lm", mesh=mesh)
        return compare(np.asarray(model(**inputs("gpt2"))), ref_out["gpt2"])
    case("forward/gpt2/explicit-2x4", explicit_mesh_case)

    def shard_model_case():
        model = shard_model(refs["gpt2"], make_mesh(2, 4))
        assert refs["gpt2"].mesh is None and len(refs["gpt2"].params["lm_head"]["kernel"].sharding.device_set) == 1
        assert model.params["lm_head"]["kernel"].addressable_shards[0].data.shape == (32, 12)
        return compare(np.asarray(model(**inputs("gpt2"))), ref_out["gpt2"])
    case("forward/gpt2/shard_model-2x4", shard_model_case)

    def batch_case():
        mesh = make_mesh(2, 4)
        placed = shard_batch({"even": np.zeros((4, 5), np.int32), "odd": np.zeros((3, 5), np.int32)}, mesh)
        return {name: [a for a in x.sharding.spec] for name, x in placed.items()}
    case("shard_batch", batch_case)
    return results


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]))))
