"""The benchmark's second, optional peer: the transformers Flax models users
lost when transformers 5 dropped them (transformers 4.46.3, jax/jaxlib 0.4.30,
flax 0.8.5, in `.venvflax`: scripts/setup_flax446.sh).

    .venvflax/bin/python bench/flax_peer.py --worker '<spec JSON>'   # what `bench/run.py --peers flax` runs

A worker like run.py's, run by .venvflax's interpreter in a fresh process per
(suite, model): it loads the same checkpoint with the Flax class
(FlaxBertModel, FlaxDistilBertModel, FlaxGPT2Model / FlaxGPT2LMHeadModel,
FlaxBartForConditionalGeneration, FlaxT5ForConditionalGeneration,
FlaxMarianMTModel; `from_pretrained` converts the PyTorch safetensors itself,
their metadata says "pt"), and times the same cases on the same inputs
(run.forward_inputs / run.generate_inputs) with run._timed: first call
apart, median and min-max of the repeats, every call blocks until ready.

Decisions:
- Both the forward pass and generate are timed under `jax.jit`, with the
  parameters as an argument, as the transformers Flax examples ran them
  (run_*_flax.py: `jax.jit(eval_step)` / `jax.pmap(generate_step)` around
  `model(..., params=params)` / `model.generate(..., params=params)`). Unjitted,
  a Flax model call dispatches op by op and `model.generate` re-traces its
  `lax.while_loop` on every call: no user benchmarked that. The first call
  is compile + run, like jaxnlp's.
- Sampling: `prng_key=PRNGKey(0)`, passed to the jitted function; tokens are
  only compared for greedy and beam (as for jaxnlp vs PyTorch).
- bfloat16: `dtype=bfloat16` (computation) and `to_bf16` (parameters), as
  jaxnlp runs with dtype = param_dtype.
- A case that 4.46's Flax generate refuses (ValueError, TypeError,
  NotImplementedError on the first call) is recorded as
  `unsupported: <message>` instead of being timed; nothing is faked.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import host_peak_rss_mb, jax_peak_mb  # noqa: E402
from run import _timed, forward_inputs, generate_inputs  # noqa: E402

CLASSES = {   # (suite, model) -> transformers 4.46 Flax class
    ("forward", "bert-base"): "FlaxBertModel", ("forward", "distilbert"): "FlaxDistilBertModel",
    ("forward", "gpt2"): "FlaxGPT2Model", ("generate", "gpt2"): "FlaxGPT2LMHeadModel",
    ("generate", "bart-base"): "FlaxBartForConditionalGeneration",
    ("generate", "t5-small"): "FlaxT5ForConditionalGeneration", ("generate", "marian"): "FlaxMarianMTModel",
}


def worker(spec: dict) -> dict:
    import jax
    import transformers

    base_rss = host_peak_rss_mb()
    t0 = time.perf_counter()
    model = load(spec)
    load_s = time.perf_counter() - t0
    run_case = forward_case if spec["suite"] == "forward" else generate_case
    cases = [run_case(model, spec, case) for case in spec["cases"]]
    return dict(load_s=load_s, cases=cases, rss_after_import_mb=base_rss, peak_rss_mb=host_peak_rss_mb(),
                peak_device_mb=jax_peak_mb(), device=str(jax.devices()[0]), flax_class=CLASSES[spec["suite"], spec["model"]],
                versions=dict(jax=jax.__version__, flax=__import__("flax").__version__,
                              transformers=transformers.__version__))


def load(spec: dict):
    import jax
    import jax.numpy as jnp
    import transformers

    cls = getattr(transformers, CLASSES[spec["suite"], spec["model"]])
    dtype = getattr(jnp, spec["dtype"])
    model = cls.from_pretrained(spec["dir"], dtype=dtype)
    if spec["dtype"] == "bfloat16":
        model.params = model.to_bf16(model.params)
    jax.block_until_ready(model.params)
    return model


def forward_case(model, spec: dict, case) -> dict:
    import jax
    import numpy as np

    batch, seq = case
    ids = forward_inputs(batch, seq).astype(np.int32)
    mask = np.ones_like(ids)
    step = jax.jit(lambda params, ids, mask: model(ids, attention_mask=mask, params=params))
    out = _timed(lambda: jax.block_until_ready(step(model.params, ids, mask)), spec["repeats"])
    out.pop("result")
    return dict(batch=batch, seq=seq, **out)


def generate_case(model, spec: dict, case) -> dict:
    import jax
    import numpy as np

    batch, mode = case
    ids, mask, opts = generate_inputs(spec, case)
    ids, mask = ids.astype(np.int32), mask.astype(np.int32)
    step = jax.jit(lambda params, ids, mask, key: model.generate(ids, attention_mask=mask, params=params,
                                                                  prng_key=key, **opts).sequences)
    key = jax.random.PRNGKey(0)
    fn = lambda: np.asarray(jax.block_until_ready(step(model.params, ids, mask, key)))  # noqa: E731
    head = dict(batch=batch, mode=mode, prompt=spec["prompt"], new=spec["new"])
    try:
        out = _timed(fn, spec["repeats"])
    except (ValueError, TypeError, NotImplementedError) as e:
        return dict(head, unsupported=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
    tokens = out.pop("result")
    return dict(head, tokens=None if mode == "sample" else tokens.tolist(), **out)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        raise SystemExit(__doc__.split("\n\n")[1])
    print(json.dumps(worker(json.loads(sys.argv[2]))))
