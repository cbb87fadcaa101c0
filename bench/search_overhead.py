"""Search overhead per step with a GPT-2-sized vocab (50257) and a fake model
that costs only a gather: what the loop, the processors and the selection cost
on their own.

    PYTHONPATH=. python bench/search_overhead.py [vocab]
"""
import sys, time
import jax
from jaxnlp.generation import GenerationConfig, search

V, B, L, P = int(sys.argv[1]) if len(sys.argv) > 1 else 50257, 8, 128, 32
table = jax.random.normal(jax.random.PRNGKey(0), (512, V))

def step_fn(tok, cache, step):
    return table[tok % 512], cache

cases = {
    "greedy": GenerationConfig(max_length=L),
    "greedy+rep+ngram3": GenerationConfig(max_length=L, repetition_penalty=1.2, no_repeat_ngram_size=3),
    "sample k50 p0.9": GenerationConfig(max_length=L, do_sample=True, top_p=0.9),
    "beam4": GenerationConfig(max_length=L, num_beams=4),
    "beam4+ngram3": GenerationConfig(max_length=L, num_beams=4, no_repeat_ngram_size=3),
}
run = jax.jit(search, static_argnames=("step_fn", "config"))
toks = jax.random.randint(jax.random.PRNGKey(1), (B, L), 0, V)
first = table[toks[:, P - 1] % 512]
print(jax.devices(), flush=True)
for name, cfg in cases.items():
    s, p = cfg.split()
    args = (step_fn, first, {}, toks, P, s, p)
    t0 = time.perf_counter(); out = run(*args, rng=jax.random.PRNGKey(0)); out.sequences.block_until_ready()
    tc = time.perf_counter() - t0
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); out = run(*args, rng=jax.random.PRNGKey(0)); out.sequences.block_until_ready()
        ts.append(time.perf_counter() - t0)
    steps = int(out.length) - P
    best = min(ts)
    print(f"{name:20s} compile+run {tc:6.2f}s  run {best * 1e3:8.2f} ms  "
          f"{best / steps * 1e6:8.1f} us/step ({steps} steps)", flush=True)
