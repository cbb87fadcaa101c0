"""Chat templates: a checkpoint's Jinja template turns a chat (a list of
{"role", "content"} messages) into the prompt text, as transformers 5's
`apply_chat_template` renders it.

- `read_chat_template(directory)`: the template(s) of a checkpoint, where
  transformers 5's tokenizer finds them: chat_template.jinja (and
  additional_chat_templates/*.jinja, named by file) over tokenizer_config.json's
  `chat_template` (a str, or a list of {"name", "template"}). A dict of named
  templates comes back when there are several. One addition: when neither
  exists, chat_template.json's `chat_template` (the file transformers'
  processors read) is used.
- `render(...)`: the template rendered in jinja2's ImmutableSandboxedEnvironment
  with transformers' settings (trim_blocks, lstrip_blocks, loop controls,
  `raise_exception`, `strftime_now`, a `tojson` that does not escape HTML, a
  `dict` and a `namespace` that refuse underscore names, the `{% generation %}`
  tag, rendered as its body). The template sees `messages`, `tools`,
  `documents`, `add_generation_prompt`, the special tokens (`bos_token`,
  `eos_token`, ... where set) and any extra keyword; everything it sees is
  rebuilt from plain JSON types first (other objects become "<TypeName>"), and
  a message's reasoning (`reasoning_content` / `thinking` / `reasoning`) is
  given under the first two names, as transformers does.
- `continue_final_message`: the last message is left open (the text after it
  cut off), found with transformers' tag trick.
- `check_chat(chat, where)`: the checks a pipeline makes on a chat item. They
  are stricter than transformers': each message is a dict with a str "role"
  and a str "content" (transformers also takes content blocks for multimodal
  processors, and drops None values; here a non-str content is a TypeError).

Not supported: callables as tools (pass JSON schemas), the assistant-token
mask, `sanitize_control_tokens`, named extra special tokens as template
variables.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime

REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
NO_TEMPLATE = ("Cannot use chat template functions because tokenizer.chat_template is not set and no template "
               "argument was passed! This checkpoint has no chat template (chat_template.jinja, or chat_template "
               "in tokenizer_config.json): pass prompt strings, or set tokenizer.chat_template")


def read_chat_template(directory) -> str | dict[str, str] | None:
    """The chat template(s) of a checkpoint directory (None: none)."""
    if directory is None or not os.path.isdir(directory):
        return None

    def read(path):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} is not UTF-8 text: {e}") from None

    templates = {}
    if os.path.isfile(os.path.join(directory, "chat_template.jinja")):
        templates["default"] = read(os.path.join(directory, "chat_template.jinja"))
    extra = os.path.join(directory, "additional_chat_templates")
    if os.path.isdir(extra):
        for name in sorted(os.listdir(extra)):
            if name.endswith(".jinja"):
                templates[name.removesuffix(".jinja")] = read(os.path.join(extra, name))
    if templates:
        return templates["default"] if list(templates) == ["default"] else templates
    for name in ("tokenizer_config.json", "chat_template.json"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            try:
                value = json.loads(read(path)).get("chat_template")
            except (json.JSONDecodeError, AttributeError) as e:
                raise ValueError(f"{path}: cannot read its chat_template: {e}") from e
            if isinstance(value, list):    # [{"name": ..., "template": ...}]
                if not all(isinstance(t, dict) and isinstance(t.get("name"), str)
                           and isinstance(t.get("template"), str) for t in value):
                    raise ValueError(f"{path}: chat_template as a list must hold {{\"name\": str, "
                                     f"\"template\": str}} objects, got {value!r:.80}")
                value = {t["name"]: t["template"] for t in value}
            if value is not None and not isinstance(value, (str, dict)):
                raise ValueError(f"{path}: chat_template must be a str (or a list of named templates), "
                                 f"got {type(value).__name__}")
            if value is not None:
                return value
    return None


def select_template(chat_template, name: str | None = None, tools=None) -> str:
    """transformers' `get_chat_template`: one template out of a tokenizer's
    (a str, or a dict of named ones: `name`, else "tool_use" when there are
    tools, else "default"); `name` may also be a template itself."""
    if isinstance(chat_template, dict):
        if name is not None and name in chat_template:
            return chat_template[name]
        if name is None:
            if tools is not None and "tool_use" in chat_template:
                return chat_template["tool_use"]
            if "default" in chat_template:
                return chat_template["default"]
            raise ValueError("This model has multiple chat templates with no default specified! Please either pass "
                             "a chat template or the name of the template you wish to use to the `chat_template` "
                             f"argument. Available template names are {sorted(chat_template)}.")
    if name is not None:
        return name
    if chat_template is None:
        raise ValueError(NO_TEMPLATE)
    return chat_template


def check_chat(chat, where: str) -> None:
    """A chat: a non-empty list of dicts, each with a str "role" and "content"."""
    if not isinstance(chat, (list, tuple)):
        raise TypeError(f"{where} is a {type(chat).__name__}, expected a chat (a list of message dicts)")
    if not chat:
        raise ValueError(f"{where} is an empty chat: a chat needs at least one message")
    for i, message in enumerate(chat):
        if not isinstance(message, Mapping):
            raise TypeError(f"{where}, message {i} is a {type(message).__name__}, expected a dict with "
                            "'role' and 'content'")
        missing = [k for k in ("role", "content") if k not in message]
        if missing:
            raise ValueError(f"{where}, message {i} has no {' or '.join(map(repr, missing))} key: each message "
                             "must have a 'role' and 'content' key")
        for key in ("role", "content"):
            if not isinstance(message[key], str):
                raise TypeError(f"{where}, message {i}: {key!r} is a {type(message[key]).__name__}, expected str")


def render(chat_template: str, conversation: Sequence[Mapping], *, add_generation_prompt: bool = False,
           continue_final_message: bool | str = False, tools=None, documents=None, **variables) -> str:
    """One chat rendered by `chat_template` (transformers' `render_jinja_template`)."""
    if continue_final_message and add_generation_prompt:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible. Use "
                         "continue_final_message when you want the model to continue the final message, and "
                         "add_generation_prompt when you want to add a header that will prompt it to start a new "
                         "assistant message instead.")
    if tools is not None and not (isinstance(tools, (list, tuple)) and all(isinstance(t, Mapping) for t in tools)):
        raise TypeError(f"tools must be a list of JSON schemas (dicts), got {type(tools).__name__}; "
                        "callables are not supported")
    if documents is not None and not (isinstance(documents, (list, tuple))
                                      and all(isinstance(d, Mapping) for d in documents)):
        raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    chat = [{k: v for k, v in m.items() if v is not None} for m in conversation]
    chat = _plain(chat)
    for i, message in enumerate(chat):     # the reasoning under the names templates read
        reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            chat[i] = {"thinking": reasoning, **message, "reasoning_content": reasoning}
    final = None
    if continue_final_message:
        if not chat:
            raise ValueError("continue_final_message is set but the conversation is empty!")
        field = continue_final_message if isinstance(continue_final_message, str) else "content"
        final = chat[-1].get(field)
        if final is None:
            raise ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
        fields = [f for f in REASONING_FIELDS if chat[-1].get(f) == final] if field in REASONING_FIELDS else [field]
        if not any(f in chat_template for f in fields):
            raise ValueError(f'continue_final_message is set to "{field}" but this is not an accepted field in '
                             "the chat_template")
        if not isinstance(final, str):
            raise TypeError(f"continue_final_message: the final message's {field!r} is not a str")
        for f in fields:
            chat[-1][f] = chat[-1][f] + CONTINUE_TAG
    text = _compile(chat_template).render(messages=chat, tools=_plain(tools), documents=_plain(documents),
                                          add_generation_prompt=add_generation_prompt, **_plain(variables))
    if final is not None:
        if final.strip() not in text or CONTINUE_TAG.strip() not in text:
            raise ValueError("continue_final_message is set but the final message does not appear in the chat after "
                             "applying the chat template! This can happen if the chat template deletes portions of "
                             "the final message. Please verify the chat template and final message in your chat to "
                             f"ensure they are compatible.Final message to continue: {final.strip()}\n"
                             f"Rendered chat:\n{text}")
        at = text.rindex(CONTINUE_TAG.strip())
        text = text[:at] if text[at:at + len(CONTINUE_TAG)] == CONTINUE_TAG else text[:at].rstrip()
    return text


def apply_chat_template(tokenizer, conversation, *, add_generation_prompt: bool = False,
                        continue_final_message: bool | str = False, tokenize: bool = False,
                        chat_template: str | None = None, tools=None, documents=None, **variables):
    """`Tokenizer.apply_chat_template`: a chat (or a list of chats) -> its text
    (`tokenize=True`: its ids, encoded without adding special tokens, since the
    template writes them)."""
    template = select_template(getattr(tokenizer, "chat_template", None), chat_template, tools)
    if isinstance(conversation, (list, tuple)) and not conversation:
        raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
    batched = isinstance(conversation, (list, tuple)) and isinstance(conversation[0], (list, tuple))
    chats = list(conversation) if batched else [conversation]
    for i, chat in enumerate(chats):
        if not isinstance(chat, (list, tuple)) or not all(isinstance(m, Mapping) for m in chat):
            raise TypeError(f"chat {i}: chat messages should be dicts")
    variables = {**special_token_variables(tokenizer), **variables}
    texts = [render(template, chat, add_generation_prompt=add_generation_prompt,
                    continue_final_message=continue_final_message, tools=tools, documents=documents, **variables)
             for chat in chats]
    if tokenize:
        texts = [list(tokenizer.encode(t, add_special_tokens=False)) for t in texts]
    return texts if batched else texts[0]


def special_token_variables(tokenizer) -> dict[str, str]:
    """The special tokens a template sees (transformers' `special_tokens_map`): those that are set."""
    names = (f"{n}_token" for n in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"))
    return {k: getattr(tokenizer, k) for k in names if getattr(tokenizer, k, None) is not None}


def _plain(value, _open: frozenset = frozenset()):
    """What a template may see: plain JSON types (transformers' `_plain_template_data`).
    A list or dict that contains itself is a ValueError (was Python's RecursionError)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, (Mapping, list, tuple)) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        if id(value) in _open:
            raise ValueError(f"chat template input: a {type(value).__name__} contains itself")
        _open = _open | {id(value)}
        plain = functools.partial(_plain, _open=_open)
    else:
        plain = _plain
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):   # numpy scalars and arrays
        return _plain(value.tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return f"<{type(value).__name__}>"


@functools.lru_cache(maxsize=32)
def _compile(chat_template: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):   # {% generation %}...{% endgeneration %}: its body
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class Namespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                Namespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            Namespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}.")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, dict=TemplateDict(), namespace=Namespace,
                       strftime_now=lambda fmt: datetime.now().strftime(fmt))
    return env.from_string(chat_template)
