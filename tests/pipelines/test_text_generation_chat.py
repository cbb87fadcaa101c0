"""text-generation with chat inputs against transformers 5's pipeline on tiny
random GPT-2 checkpoints whose tokenizers carry a chat template: the same
rendered prompts (jaxnlp.tokenization.chat against the tokenizer's
apply_chat_template) and the same generated chats, exactly, for greedy and
beam search, batches of chats, return_full_text=False and
continue_final_message."""

import json
import shutil

import jinja2
import numpy as np
import pytest
import transformers
from tokenizers import AddedToken

import jaxnlp
from jaxnlp.tokenization.chat import read_chat_template
from support.pipelines import bytelevel_tokenizer, hf_pipeline
from support.tiny_lm import make_lm, save_lm

CHATML = ("{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\n' }}{% endif %}")
# whitespace control (trim_blocks / lstrip_blocks), namespace, loop controls and raise_exception
INST = """{% set ns = namespace(turns=0) %}
{% for message in messages %}
    {% if message['role'] == 'system' %}
[SYS] {{ message['content'] }} [/SYS]
        {% continue %}
    {% endif %}
    {% if message['role'] not in ['user', 'assistant'] %}
        {{ raise_exception('Unknown role: ' + message['role']) }}
    {% endif %}
    {% if ns.turns >= 4 %}{% break %}{% endif %}
    {% set ns.turns = ns.turns + 1 %}
    {% if message['role'] == 'user' %}
[INST] {{ message['content'] | trim }} [/INST]
    {%- else %} {{ message['content'] }}{{ eos_token }}
    {% endif %}
{% endfor %}
{% if add_generation_prompt %}>>{% endif %}"""
# tojson, dict, tools, documents, reasoning fields, {% generation %}, strftime_now
RICH = ("Year {{ strftime_now('%Y') }}\n{% if tools %}Tools: {{ tools | tojson }}\n{% endif %}"
        "{% for d in documents or [] %}Doc {{ loop.index }}: {{ d.title }} - {{ d.text }}\n{% endfor %}"
        "{% for m in messages %}{% set x = dict(role=m.role) %}<{{ x.role }}>"
        "{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}\n"
        "{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
        "{% else %}{{ m.content | tojson }}{% endif %}\n\n"
        "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")

CHATS = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the quick brown fox"},
     {"role": "assistant", "content": "jumps over"}, {"role": "user", "content": "naïve café in 東京?"}],
    [{"role": "user", "content": "the lazy dog"}, {"role": "assistant", "content": "loved the"}],   # continued
]
GREEDY = dict(do_sample=False, max_new_tokens=10)


def build(directory, template=None, where="tokenizer_config"):
    """A tiny GPT-2 (128 positions) whose byte-level BPE tokenizer has the ChatML
    tokens; `template` goes into tokenizer_config.json or chat_template.jinja."""
    tok = bytelevel_tokenizer(directory / "_tok", kind="gpt2")
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in ("<|im_start|>", "<|im_end|>")],
                   special_tokens=True)
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    model = make_lm("gpt2", seed=1, vocab_size=len(tok), n_positions=128, bos_token_id=eot, eos_token_id=eot,
                    pad_token_id=eot)
    save_lm(model, directory, generation_config=dict(bos_token_id=eot, eos_token_id=eot, pad_token_id=eot))
    tok.save_pretrained(directory)
    set_template(directory, template, where)
    return directory


def set_template(directory, template, where="tokenizer_config"):
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    (directory / "chat_template.jinja").unlink(missing_ok=True)
    if where == "tokenizer_config" and template is not None:
        config["chat_template"] = template
    elif where == "jinja":
        (directory / "chat_template.jinja").write_text(template)
    config_path.write_text(json.dumps(config))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    directory = build(tmp_path_factory.mktemp("chatml"), CHATML)
    return directory, hf_pipeline("text-generation", directory), jaxnlp.pipeline("text-generation", model=directory)


def hf_each(hf, chats, **options):
    return [hf(c, **options) for c in chats]


@pytest.mark.parametrize("options", [GREEDY, dict(GREEDY, return_full_text=False),
                                     dict(num_beams=3, num_return_sequences=2, do_sample=False, max_new_tokens=6),
                                     dict(do_sample=False, max_new_tokens=4, repetition_penalty=1.3)])
def test_chats_match_transformers(ckpt, options):
    _, hf, ours = ckpt
    ref = hf_each(hf, CHATS, **options)
    assert ours(CHATS, **options) == ref
    texts = [str(x["generated_text"]) for r in ref for x in r]
    assert len(set(texts)) == len(texts)                           # replies depend on the chat
    if options.get("return_full_text", True):
        assert ref[0][0]["generated_text"][:-1] == CHATS[0] and ref[0][0]["generated_text"][-1]["role"] == "assistant"
        assert ref[2][0]["generated_text"][-1]["content"].startswith("loved the")   # continued, not a new message
        assert len(ref[2][0]["generated_text"]) == 2


def test_single_chat_tensors_and_continue_flag(ckpt):
    _, hf, ours = ckpt
    assert ours(CHATS[1], **GREEDY) == hf(CHATS[1], **GREEDY)                   # one chat: its list
    ref = hf(CHATS[1], return_tensors=True, **GREEDY)
    assert ours(CHATS[1], return_tensors=True, **GREEDY) == ref
    assert len(set(ref[0]["generated_token_ids"][-10:])) >= 4, ref          # not one repeated token
    for flag in (False, True):    # a new message after the assistant's / the user's message continued
        assert ours(CHATS, continue_final_message=flag, **GREEDY) == hf_each(hf, CHATS, continue_final_message=flag,
                                                                             **GREEDY)


def test_batch_size_and_defaults(ckpt):
    directory, hf, ours = ckpt
    small = jaxnlp.pipeline("text-generation", model=ours.model, tokenizer=ours.tokenizer, batch_size=2,
                            do_sample=False, max_new_tokens=7)
    assert small(CHATS * 2) == hf_each(hf, CHATS * 2, do_sample=False, max_new_tokens=7)


def test_template_with_loop_controls_and_raise_exception(ckpt, tmp_path):
    directory, _, ours = ckpt
    inst = tmp_path / "inst"
    shutil.copytree(directory, inst)
    set_template(inst, INST, where="jinja")
    hf = hf_pipeline("text-generation", inst)
    tok = jaxnlp.load_tokenizer(inst)
    assert tok.chat_template == hf.tokenizer.chat_template == INST
    pipe = jaxnlp.pipeline("text-generation", model=ours.model, tokenizer=tok)
    chats = CHATS + [[{"role": "user", "content": f"turn {i}"} if i % 2 == 0 else
                      {"role": "assistant", "content": f"reply {i}"} for i in range(7)]]    # {% break %}s
    assert pipe(chats, **GREEDY) == hf_each(hf, chats, **GREEDY)
    bad = [{"role": "tool", "content": "x"}]
    with pytest.raises(jinja2.exceptions.TemplateError, match="Unknown role: tool"):
        hf(bad, **GREEDY)
    with pytest.raises(jinja2.exceptions.TemplateError, match="Unknown role: tool"):
        pipe(bad, **GREEDY)


@pytest.mark.parametrize("template", [CHATML, INST, RICH])
def test_apply_chat_template_matches_transformers(ckpt, template):
    directory, hf, ours = ckpt
    tok = jaxnlp.load_tokenizer(directory)
    tok.chat_template = template
    ref_tok = transformers.AutoTokenizer.from_pretrained(directory)
    ref_tok.chat_template = template
    extras = dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {"a": "<b>&"}}}],
                  documents=[{"title": "T", "text": "body"}])
    thinking = [{"role": "user", "content": 'say "hi" <tag>'},
                {"role": "assistant", "content": "hi", "reasoning": "easy", "name": None}]
    cases = [(c, dict(add_generation_prompt=g)) for c in CHATS + [thinking] for g in (False, True)]
    cases += [(CHATS[2], dict(continue_final_message=True)), (CHATS[0], dict(continue_final_message=True))]
    cases += [(thinking, extras)]
    for chat, options in cases:
        expected = ref_tok.apply_chat_template(chat, tokenize=False, **options)
        assert tok.apply_chat_template(chat, **options) == expected, (chat, options)
        assert tok.apply_chat_template(chat, tokenize=True, **options) == \
            ref_tok.apply_chat_template(chat, tokenize=True, return_dict=False, **options)
    assert tok.apply_chat_template(CHATS, add_generation_prompt=True) == \
        ref_tok.apply_chat_template(CHATS, add_generation_prompt=True, tokenize=False)     # a batch of chats
    if template is RICH:
        assert "Tools: " in tok.apply_chat_template(thinking, **extras) and "<think>easy" in expected
    with pytest.raises(ValueError, match="not compatible"):
        tok.apply_chat_template(CHATS[2], add_generation_prompt=True, continue_final_message=True)


def test_reading_templates_as_transformers(ckpt, tmp_path):
    """Where the template is found: tokenizer_config.json (a str, or named
    templates), chat_template.jinja over it, additional_chat_templates/."""
    directory, _, _ = ckpt
    d = tmp_path / "t"
    shutil.copytree(directory, d)
    layouts = [("tokenizer_config", CHATML), ("jinja", INST),
               ("tokenizer_config", [{"name": "default", "template": CHATML}, {"name": "tool_use", "template": RICH}])]
    for where, template in layouts:
        set_template(d, template, where)
        assert read_chat_template(d) == transformers.AutoTokenizer.from_pretrained(d).chat_template
    (d / "additional_chat_templates").mkdir()
    (d / "additional_chat_templates" / "rich.jinja").write_text(RICH)
    set_template(d, INST, "jinja")
    ref = transformers.AutoTokenizer.from_pretrained(d)
    assert read_chat_template(d) == ref.chat_template == {"default": INST, "rich": RICH}
    tok = jaxnlp.load_tokenizer(d)
    assert tok.chat_template == ref.chat_template
    for name in (None, "rich"):
        assert tok.apply_chat_template(CHATS[1], chat_template=name) == \
            ref.apply_chat_template(CHATS[1], chat_template=name, tokenize=False)
    # the converted format keeps the template files (chat_template.jinja, additional_chat_templates/)
    from jaxnlp.cli import main
    main(["convert", str(d), str(tmp_path / "converted"), "--task", "causal-lm"])
    assert jaxnlp.load_tokenizer(tmp_path / "converted").chat_template == ref.chat_template


def test_malformed_chat_templates_name_the_file(ckpt, tmp_path):
    """A non-str template, a list entry without "template" and a non-UTF-8
    chat_template.jinja failed as jinja's / Python's bare TypeError, KeyError
    or UnicodeDecodeError without the file's name."""
    directory, _, _ = ckpt
    d = tmp_path / "t"
    shutil.copytree(directory, d)
    for bad, message in ((5, "must be a str"), ([{"name": "default"}], "as a list must hold"),
                         ([1, 2], "as a list must hold")):
        set_template(d, bad)
        with pytest.raises(ValueError, match=f"tokenizer_config.json: chat_template {message}"):
            jaxnlp.load_tokenizer(d)
    set_template(d, None)
    (d / "chat_template.jinja").write_bytes(b"\xff\xfe {{ messages }}")
    with pytest.raises(ValueError, match="chat_template.jinja is not UTF-8"):
        jaxnlp.load_tokenizer(d)


def test_no_chat_template(ckpt, tmp_path):
    directory, _, ours = ckpt
    d = tmp_path / "plain"
    shutil.copytree(directory, d)
    set_template(d, None)
    hf = hf_pipeline("text-generation", d)
    with pytest.raises(ValueError, match="chat template"):
        hf(CHATS[0], **GREEDY)
    pipe = jaxnlp.pipeline("text-generation", model=d)
    with pytest.raises(ValueError, match="chat template"):
        pipe(CHATS[0], **GREEDY)
    with pytest.raises(ValueError, match="chat template"):
        pipe.tokenizer.apply_chat_template(CHATS[0])
    assert pipe("hello", **GREEDY) == hf("hello", **GREEDY)          # prompts still work


def test_bad_chats(ckpt):
    directory, _, ours = ckpt
    user = {"role": "user", "content": "hi"}
    with pytest.raises(ValueError, match="message 1 has no 'content'"):
        ours([user, {"role": "assistant"}], **GREEDY)
    with pytest.raises(ValueError, match="message 0 has no 'role'"):
        ours([[user], [{"content": "x"}]], **GREEDY)
    with pytest.raises(TypeError, match="'content' is a list"):
        ours([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], **GREEDY)
    with pytest.raises(TypeError, match="'role' is a int"):
        ours([{"role": 1, "content": "hi"}], **GREEDY)
    with pytest.raises(ValueError, match="item 1 is an empty chat"):
        ours([[user], []], **GREEDY)
    with pytest.raises(TypeError, match="mix prompts"):
        ours(["hello", [user]], **GREEDY)
    with pytest.raises(TypeError, match="mix prompts"):
        ours([[user], "hello"], **GREEDY)
    with pytest.raises(TypeError, match="item 1 is a dict"):
        ours(["hello", user], **GREEDY)
    with pytest.raises(TypeError, match="message 1 is a str"):
        ours([user, "hello"], **GREEDY)
    with pytest.raises(TypeError, match="tools must be a list of dicts"):
        ours([user], tools=[print], **GREEDY)
    with pytest.raises(ValueError, match="empty"):
        ours([])
    tok = jaxnlp.load_tokenizer(directory)
    tok.chat_template = CHATML
    with pytest.raises(ValueError, match="empty conversation"):
        tok.apply_chat_template([])
    # the tokenizer's own checks (the pipeline checks tools before it)
    with pytest.raises(TypeError, match="tools must be a list of JSON schemas"):
        tok.apply_chat_template([user], tools=5)
    with pytest.raises(TypeError, match="tools must be a list of JSON schemas"):
        tok.apply_chat_template([user], tools={"name": "f"})
    # a value that contains itself is named (was Python's RecursionError)
    looped = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="list contains itself"):
        tok.apply_chat_template([user], tools=[{"name": "f", "parameters": looped}])
    cyclic = {"role": "user", "content": "hi"}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match="dict contains itself"):
        tok.apply_chat_template([cyclic])
    from jaxnlp.tokenization.chat import _plain       # numpy values become plain JSON values
    assert _plain({"a": np.arange(3), "b": np.float32(0.5), "c": [np.int64(2)]}) == {"a": [0, 1, 2], "b": 0.5,
                                                                                       "c": [2]}
    shared = {"type": "string"}          # the same object twice, not a cycle: fine
    text = tok.apply_chat_template([user], extra={"a": shared, "b": [shared, shared]})
    assert text == tok.apply_chat_template([user])
