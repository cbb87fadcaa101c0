"""conversation against transformers 5 `model.generate` on a tiny random
GPT-2 (40 positions) with a trained byte-level BPE tokenizer.

transformers has no conversational pipeline any more, so each reference is
built by hand, DialoGPT style: the ids of every turn followed by eos
(<|endoftext|>), the history truncated by hand where it does not fit,
generated unbatched; the response is the new ids up to eos. The pipeline
generates several conversations in one left-padded batch and must give each
one its unbatched result, exactly."""

import jax
import pytest
import torch

import jaxnlp
from jaxnlp.pipelines.conversation import Conversation, ConversationManager
from support.gen_pipelines import gpt2_checkpoint

WINDOW = 40          # the tiny model's positions
NEW = 6              # max_new_tokens in most tests


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    directory, model, tok = gpt2_checkpoint(tmp_path_factory.mktemp("gpt2"))
    return directory, model, tok, jaxnlp.pipeline("conversation", model=directory)


def user_ids(tok, text):
    return tok(text).input_ids + [tok.eos_token_id]


def hf_response(model, tok, ids, **options):
    """transformers' response to the hand-built model input `ids` (unbatched)."""
    eos = options.pop("eos_token_id", tok.eos_token_id)
    options = {"do_sample": False, "max_new_tokens": NEW, **options}
    out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                         pad_token_id=tok.eos_token_id, eos_token_id=eos, **options)
    new = out[0, len(ids):].tolist()
    return new[:new.index(eos)] if eos in new else new


def newest_whole_turns(turns, budget):
    """The newest turns whose total fits `budget`, concatenated."""
    n = 1
    while n < len(turns) and len(sum(turns[-(n + 1):], [])) <= budget:
        n += 1
    assert len(sum(turns[-n:], [])) <= budget
    return sum(turns[-n:], [])


def decode(tok, ids):
    return tok.decode(ids, skip_special_tokens=True)


def test_three_turns_match_transformers(ckpt):
    _, model, tok, chat = ckpt
    eos = tok.eos_token_id
    conv = Conversation("hello")
    context, responses = [], []
    for turn, text in enumerate(["hello", "the dog", "paris"]):
        if turn:
            conv.add_user_input(text)
        context += user_ids(tok, text)
        assert len(context) + NEW <= WINDOW                      # nothing truncated in this test
        expected = hf_response(model, tok, context)
        assert chat(conv, max_new_tokens=NEW) is conv
        assert conv.generated_responses[-1] == decode(tok, expected)
        assert conv.history[-2:] == [user_ids(tok, text), expected + [eos]]
        assert conv.new_user_input is None and conv.past_user_inputs[-1] == text
        context += expected + [eos]                              # our response fed back
        responses.append(tuple(expected))
    assert sum(conv.history, []) == context
    assert len(set(responses)) == 3 and all(len(set(r)) >= 3 for r in responses)   # not degenerate
    assert "bot >> " in repr(conv)


def _batch(tok):
    """Three conversations of different lengths: new, one turn loaded as texts, two turns given as ids."""
    eos = tok.eos_token_id
    a = Conversation("hello")
    b = Conversation("the city", past_user_inputs=["what?"], generated_responses=["paris city"])
    c_turns = [user_ids(tok, "hello world"), [221, 75, 228, 75, eos], user_ids(tok, "the dog"),
               [271, 117, 271, 347, eos]]
    c = Conversation("paris", past_user_inputs=["hello world", "the dog"],
                     generated_responses=["resp 1", "resp 2"], history=c_turns)
    contexts = [user_ids(tok, "hello"),
                user_ids(tok, "what?") + user_ids(tok, "paris city") + user_ids(tok, "the city"),
                sum(c_turns, []) + user_ids(tok, "paris")]
    return [a, b, c], contexts


@pytest.mark.parametrize("options", [{}, dict(num_beams=3)], ids=["greedy", "beam"])
@pytest.mark.parametrize("stop", ["max_new_tokens", "eos"])
def test_batch_matches_unbatched_transformers(ckpt, options, stop):
    """One left-padded generate call for all three; each row as transformers alone.
    With `eos`: an eos id the model does generate, so rows end at different steps."""
    _, model, tok, chat = ckpt
    convs, contexts = _batch(tok)
    assert len({len(x) for x in contexts}) == 3 and max(len(x) for x in contexts) + NEW <= WINDOW
    if stop == "eos":
        options = dict(options, eos_token_id=hf_response(model, tok, contexts[0], **options)[2])
    expected = [hf_response(model, tok, ids, **options) for ids in contexts]
    if stop == "eos":
        assert min(len(e) for e in expected) < NEW               # some responses end early
        assert max(len(e) for e in expected) > 2
    assert all(len(set(e)) >= 2 for e in expected if len(e) == NEW)
    assert len({tuple(e) for e in expected}) == 3
    before = [list(c.history) for c in convs]
    out = chat(convs, max_new_tokens=NEW, **options)
    assert out == {c.uuid: decode(tok, e) for c, e in zip(convs, expected)}
    assert list(out) == [c.uuid for c in convs]
    eos = tok.eos_token_id                                       # the turn separator stays eos
    for conv, old, ids, e in zip(convs, before, contexts, expected):
        assert sum(conv.history, []) == ids + e + [eos]
        if old:                                                  # given ids are kept as given
            assert conv.history[:len(old)] == old


def test_history_truncated_to_whole_turns(ckpt):
    """A history longer than the window: the model sees the newest whole turns
    that fit in WINDOW - max_new_tokens, as cut by hand here; `history` keeps all."""
    _, model, tok, chat = ckpt
    past = ["the quick brown fox jumps over the lazy dog", "hello world", "mary lives in paris with john",
            "loved the film", "very good music and acting"]
    responses = ["great movie", "terrible plot", "not really", "london river", "the city"]
    conv = Conversation("what about the mountain?", past_user_inputs=past, generated_responses=responses)
    turns = [user_ids(tok, t) for pair in zip(past, responses) for t in pair] + [user_ids(tok, conv.new_user_input)]
    assert len(sum(turns, [])) > WINDOW
    ids = newest_whole_turns(turns, WINDOW - NEW)
    assert ids == sum(turns[-3:], [])                            # 3 of 11 turns fit
    expected = hf_response(model, tok, ids)
    assert chat([conv], max_new_tokens=NEW) == {conv.uuid: decode(tok, expected)}
    assert conv.history == turns + [expected + [tok.eos_token_id]]

    # max_context_length lowers the budget further
    conv2 = Conversation("what about the mountain?", past_user_inputs=past, generated_responses=responses)
    ids = newest_whole_turns(turns, 20)
    assert ids == sum(turns[-2:], [])
    assert chat(conv2, max_new_tokens=NEW, max_context_length=20).last_response == \
        decode(tok, hf_response(model, tok, ids))


def test_very_long_input_keeps_its_end(ckpt):
    """A new input longer than the budget alone: its last tokens (and the separator)."""
    _, model, tok, chat = ckpt
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 8)
    full = user_ids(tok, text)
    assert len(full) > WINDOW
    conv = Conversation("hello", past_user_inputs=["hi"], generated_responses=[""])   # an empty response
    assert conv.add_user_input(text, overwrite=True) == "hello"
    expected = hf_response(model, tok, full[-(WINDOW - NEW):])
    assert chat(conv, max_new_tokens=NEW).last_response == decode(tok, expected)
    assert conv.history[:3] == [user_ids(tok, "hi"), [tok.eos_token_id], full]   # stored in full


def test_defaults_greedy_and_alias(ckpt):
    """Default max_new_tokens: min(64, 40 // 2) = 20; greedy (the checkpoint sets no do_sample)."""
    directory, model, tok, _ = ckpt
    chat = jaxnlp.pipeline("conversational", model=directory)
    conv = Conversation("hello world")
    expected = hf_response(model, tok, user_ids(tok, "hello world"), max_new_tokens=20)
    assert len(expected) == 20 and len(set(expected)) > 5
    assert chat(conv).last_response == decode(tok, expected)


def test_sampling_is_reproducible(ckpt):
    *_, chat = ckpt
    options = dict(do_sample=True, top_k=20, max_new_tokens=NEW)

    def run(seed):
        convs = [Conversation("hello"), Conversation("the dog")]
        return list(chat(convs, rng=jax.random.PRNGKey(seed), **options).values())
    assert run(1) == run(1)
    assert run(1) != run(2)


def test_manager(ckpt):
    _, model, tok, chat = ckpt
    m = ConversationManager()
    a = m.create("hello")
    b = m.create_empty()
    c = m.create("the quick brown fox")
    assert len(m) == 3 and a in m and list(m) == [a, b, c]
    assert [x.uuid for x in m.get_active_conversations()] == [a, c]
    assert m.get(b).new_user_input is None and m[b] is m.get(b)
    removed = m.remove(c)
    assert removed.uuid == c and c not in m

    out = chat(m, max_new_tokens=NEW)
    assert list(out) == [a]
    assert out[a] == decode(tok, hf_response(model, tok, user_ids(tok, "hello")))
    assert m.get(b).history == [] and m.get(b).generated_responses == []      # no input: untouched
    assert removed.generated_responses == []                                     # removed: untouched
    assert chat(m, max_new_tokens=NEW) == {}                     # nothing pending: nothing regenerated
    assert m.get(a).generated_responses == [out[a]]

    m.add_user_input(b, "hello")
    with pytest.raises(ValueError, match="already has a pending"):
        m.add_user_input(b, "again")
    assert m.add_user_input(b, "the dog", overwrite=True) == "hello"
    out = chat(m, max_new_tokens=NEW)
    assert list(out) == [b] and m.get(b).past_user_inputs == ["the dog"]
    assert len(m.get(a).generated_responses) == 1

    m.add(Conversation("x", uuid="fixed"))
    with pytest.raises(ValueError, match="already managed"):
        m.add(Conversation("y", uuid="fixed"))
    for call in (lambda: m.get("nope"), lambda: m.remove("nope"), lambda: m.add_user_input("nope", "hi")):
        with pytest.raises(KeyError, match="nope"):
            call()
    assert set(m.clear()) == {a, b, "fixed"} and len(m) == 0
    assert chat(m) == {}


def test_bad_input(ckpt):
    directory, _, tok, chat = ckpt
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            Conversation(bad)
        with pytest.raises(ValueError, match="empty"):
            Conversation().add_user_input(bad)
    with pytest.raises(TypeError, match="must be a str"):
        Conversation(42)
    with pytest.raises(TypeError, match="must be a str"):
        ConversationManager().create(b"hi")
    with pytest.raises(ValueError, match="past user inputs"):
        Conversation("hi", past_user_inputs=["a", "b"], generated_responses=["c"])
    with pytest.raises(ValueError, match="history has"):
        Conversation("hi", past_user_inputs=["a"], generated_responses=["c"], history=[[1, 0]])
    # a str was split into characters, floats and digit strings became ids, None was "not iterable"
    with pytest.raises(TypeError, match="past_user_inputs must be a list"):
        Conversation("hi", "ab", "cd")
    with pytest.raises(TypeError, match="past_user_inputs must be a list"):
        Conversation("hi", past_user_inputs=None)
    for history in ([[1.7, 0], [2, 3]], ["12", "34"], [None, [1]]):
        with pytest.raises(TypeError, match="history turn 0"):
            Conversation("hi", past_user_inputs=["a"], generated_responses=["c"], history=history)
    changed = Conversation("hi", past_user_inputs=["a"], generated_responses=["c"])
    changed.past_user_inputs.append("x")                         # after construction
    with pytest.raises(ValueError, match="do not pair up"):
        chat(changed, max_new_tokens=NEW)

    with pytest.raises(TypeError, match=r"Conversation\(text\)"):
        chat("hello")
    with pytest.raises(TypeError, match="item 1"):
        chat([Conversation("hi"), "hello"])
    ok = Conversation("hello")
    broken = Conversation("hi")
    broken.new_user_input = 7                                    # set directly, bypassing the checks
    with pytest.raises(TypeError, match="new_user_input must be a str"):
        chat([ok, broken], max_new_tokens=NEW)
    assert ok.new_user_input == "hello" and ok.history == []     # nothing changed
    broken.new_user_input = ""
    with pytest.raises(ValueError, match="empty user input"):
        chat([ok, broken], max_new_tokens=NEW)
    with pytest.raises(ValueError, match="given twice"):
        chat([ok, ok])

    assert chat([]) == {}                                        # no active conversation: empty result
    assert chat([Conversation()]) == {}
    idle = Conversation()
    assert chat(idle) is idle and idle.generated_responses == []

    with pytest.raises(ValueError, match="max_new_tokens"):
        chat(ok, max_length=30)
    with pytest.raises(ValueError, match="num_return_sequences"):
        chat(ok, num_return_sequences=2, num_beams=2)
    with pytest.raises(TypeError, match="unknown option"):
        chat(ok, max_new_token=3)
    with pytest.raises(ValueError, match="no room"):
        chat(ok, max_new_tokens=WINDOW)
    with pytest.raises(ValueError, match="max_context_length"):
        chat(ok, max_context_length=0)
    with pytest.raises(TypeError, match="unknown option"):
        jaxnlp.pipeline("conversation", model=directory, foo=1)
    assert ok.generated_responses == []
