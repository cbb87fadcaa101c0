"""`conversation` (alias `conversational`): multi-turn dialogue with a
DialoGPT-style causal LM, after rust-bert's conversation pipeline
(transformers removed its ConversationalPipeline in 4.42).

    from jaxnlp.pipelines.conversation import Conversation, ConversationManager
    chat = jaxnlp.pipeline("conversation", model="microsoft/DialoGPT-medium")
    manager = ConversationManager()
    cid = manager.create("Going to the movies tonight - any suggestions?")
    chat(manager)                      # -> {cid: "The Big Lebowski"}
    manager.get(cid).add_user_input("Is it an action movie?")
    chat(manager)

A `Conversation` holds its uuid (a str), the past user inputs, the generated
responses, the pending `new_user_input` and `history`: the token ids of each
processed turn (user, response, user, ...), each ending with the turn
separator (the checkpoint's eos). A `ConversationManager` keeps conversations
by uuid.

Calling the pipeline generates a response for every conversation given that
has a pending input, all in left-padded batches (`batch_size` conversations
per `jaxnlp.generate` call; rows are independent: the mask and per-row
positions make each response what the model gives for that conversation
alone). Each answered conversation gets the response appended and its input
moved to the past. What it returns (rust-bert returns a map uuid ->
response):
- a `Conversation`: that conversation, updated (as transformers 4.x did);
- a `ConversationManager`, or a list of conversations: a dict
  {uuid: response} over the conversations that had a pending input, in
  order; conversations without one are not touched. No active conversation
  (an empty list or manager included) gives {}.

The model input (DialoGPT): the ids of every turn followed by the separator,
concatenated, the new user input last (encoded without special tokens). It
is truncated to `max_context_length` tokens (default and upper bound: the
model's positions, else the tokenizer's model_max_length, minus
`max_new_tokens`, so input + response fit the model): the oldest whole
turns go first; when the new input alone is longer, its first tokens are cut
(it keeps its end and separator; rust-bert keeps the start of a long input,
transformers 4.x cut the oldest tokens). Truncation applies to what the model sees
only: `history` keeps every turn in full. The response is the new tokens up
to the first eos id (excluded), decoded with `skip_special_tokens` (default
True); `history` stores those ids (not the decoded text re-encoded: a
byte-level BPE does not round-trip arbitrary model output) followed by the
separator, also when the response was cut by `max_new_tokens` (rust-bert
stores the raw generated ids, without a separator when cut).

Options (at `pipeline(...)` or per call): every generation option goes to
`jaxnlp.generate` except the totals `max_length` / `min_length` (ValueError:
a conversation's length varies from row to row and turn to turn, use
`max_new_tokens` / `min_new_tokens`) and `num_return_sequences` (a
conversation takes one response; only 1 is accepted). Defaults are the
checkpoint's generation config (so greedy unless it sets `do_sample`), with
`max_new_tokens` = the checkpoint's, else min(64, the model's positions //
2) (a checkpoint's `max_length` is overridden by it; rust-bert's defaults,
sampling with top_k=50, top_p=0.9, are not applied). An `eos_token_id` option changes where responses stop, not the turn
separator. Also: `max_context_length`, `skip_special_tokens`,
`clean_up_tokenization_spaces`, `rng` (the sampling key, default
PRNGKey(0); batch k of a call uses fold_in(rng, k)).

Input rules: a user input must be a str with some non-space text
(TypeError / ValueError, also when set directly on `new_user_input`); `add_user_input` on a
conversation with a pending input raises ValueError unless
`overwrite=True` (rust-bert's `add_user_input_with_overwrite`), which returns
the replaced input; an unknown uuid raises KeyError (rust-bert returns None).
The pipeline updates the conversations it is given (that is its job); it
changes nothing else, and nothing at all if generation fails.
"""

from __future__ import annotations

import dataclasses
import uuid as uuid_lib
from collections.abc import Iterator

import jax
import numpy as np

from jaxnlp.generation.api import generate, generation_config_for
from jaxnlp.generation.config import GenerationConfig
from jaxnlp.pipelines.base import Pipeline

__all__ = ["Conversation", "ConversationManager", "ConversationPipeline"]

PIPELINE_OPTIONS = ("max_context_length", "skip_special_tokens", "clean_up_tokenization_spaces", "rng")
DEFAULT_MAX_NEW_TOKENS = 64


def _check_text(text, what: str = "user input") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"empty {what}: a conversation turn needs some text")
    return text


def _new_uuid() -> str:
    return str(uuid_lib.uuid4())


@dataclasses.dataclass(eq=False)
class Conversation:
    """One dialogue: `Conversation("Hi!")` starts one with a pending input.

    `past_user_inputs` and `generated_responses` (equal lengths) load a prior
    state; `history` (their ids, see the module doc) may be left empty, then
    the pipeline encodes those texts."""

    new_user_input: str | None = None
    past_user_inputs: list[str] = dataclasses.field(default_factory=list)
    generated_responses: list[str] = dataclasses.field(default_factory=list)
    history: list[list[int]] = dataclasses.field(default_factory=list)
    uuid: str = dataclasses.field(default_factory=_new_uuid)

    def __post_init__(self):
        if self.new_user_input is not None:
            _check_text(self.new_user_input)
        for name in ("past_user_inputs", "generated_responses", "history"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                # (a str was split into characters, a None failed as "not iterable")
                raise TypeError(f"{name} must be a list, got {type(value).__name__}")
        self.past_user_inputs = [_check_text(t, f"past user input {i}")
                                 for i, t in enumerate(self.past_user_inputs)]
        self.generated_responses = list(self.generated_responses)
        for i, t in enumerate(self.generated_responses):
            if not isinstance(t, str):
                raise TypeError(f"generated response {i} must be a str, got {type(t).__name__}")
        for i, turn in enumerate(self.history):
            if isinstance(turn, (str, bytes)) or not isinstance(turn, (list, tuple, np.ndarray)) or not all(
                    isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in turn):
                raise TypeError(f"history turn {i} must be a list of int token ids, got {turn!r:.60}")
        self.history = [[int(t) for t in turn] for turn in self.history]
        self._check_pairs()
        if not isinstance(self.uuid, str):
            raise TypeError(f"uuid must be a str, got {type(self.uuid).__name__}")

    def _check_pairs(self, where: str = "") -> None:
        """One generated response per past input, and a history of none or of
        two turns per pair (checked again before generating: the lists may
        have changed since)."""
        if len(self.past_user_inputs) != len(self.generated_responses):
            raise ValueError(f"{where}{len(self.past_user_inputs)} past user inputs but "
                             f"{len(self.generated_responses)} generated responses: each processed input has "
                             "one response (they do not pair up)")
        if self.history and len(self.history) != 2 * len(self.past_user_inputs):
            raise ValueError(f"{where}history has {len(self.history)} turns, expected "
                             f"{2 * len(self.past_user_inputs)} (one per past input and response) or none")

    def add_user_input(self, text: str, overwrite: bool = False) -> str | None:
        """Set the pending input. One is already pending: ValueError, or with
        `overwrite=True` it is replaced and returned."""
        _check_text(text)
        old = self.new_user_input
        if old is not None and not overwrite:
            raise ValueError(f"conversation {self.uuid} already has a pending user input {old!r} "
                             "(generate a response first, or pass overwrite=True)")
        self.new_user_input = text
        return old

    @property
    def has_pending_input(self) -> bool:
        return self.new_user_input is not None

    @property
    def last_response(self) -> str | None:
        return self.generated_responses[-1] if self.generated_responses else None

    def iter_texts(self) -> Iterator[tuple[bool, str]]:
        """(is_user, text) for every turn, the pending input last."""
        for user, response in zip(self.past_user_inputs, self.generated_responses):
            yield True, user
            yield False, response
        if self.new_user_input is not None:
            yield True, self.new_user_input

    def __repr__(self) -> str:
        lines = [f"Conversation id: {self.uuid}"]
        lines += [f"{'user' if is_user else 'bot'} >> {text}" for is_user, text in self.iter_texts()]
        return "\n".join(lines)


class ConversationManager:
    """Conversations by uuid (rust-bert's ConversationManager)."""

    def __init__(self):
        self._conversations: dict[str, Conversation] = {}

    def create(self, text: str) -> str:
        """A new conversation with `text` pending; its uuid."""
        return self.add(Conversation(_check_text(text)))

    def create_empty(self) -> str:
        return self.add(Conversation())

    def add(self, conversation: Conversation) -> str:
        if not isinstance(conversation, Conversation):
            raise TypeError(f"expected a Conversation, got {type(conversation).__name__}")
        if conversation.uuid in self._conversations:
            raise ValueError(f"a conversation with uuid {conversation.uuid} is already managed")
        self._conversations[conversation.uuid] = conversation
        return conversation.uuid

    def get(self, uuid: str) -> Conversation:
        return self._conversations[self._known(uuid)]

    __getitem__ = get

    def remove(self, uuid: str) -> Conversation:
        return self._conversations.pop(self._known(uuid))

    def add_user_input(self, uuid: str, text: str, overwrite: bool = False) -> str | None:
        return self.get(uuid).add_user_input(text, overwrite=overwrite)

    def get_active_conversations(self) -> list[Conversation]:
        """The conversations with a pending user input, in creation order."""
        return [c for c in self._conversations.values() if c.has_pending_input]

    def get_all(self) -> dict[str, Conversation]:
        return dict(self._conversations)

    def clear(self) -> dict[str, Conversation]:
        removed, self._conversations = self._conversations, {}
        return removed

    def __len__(self) -> int:
        return len(self._conversations)

    def __contains__(self, uuid) -> bool:
        return uuid in self._conversations

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._conversations))

    def _known(self, uuid) -> str:
        key = str(uuid) if isinstance(uuid, uuid_lib.UUID) else uuid
        if key not in self._conversations:
            raise KeyError(f"no conversation with uuid {uuid!r}")
        return key


class ConversationPipeline(Pipeline):
    item_types = (Conversation,)
    item_name = "Conversation"

    @property
    def separator(self) -> int:
        """The id that ends every turn: the checkpoint's (first) eos, else the tokenizer's."""
        eos = generation_config_for(self.model).eos_ids
        sep = eos[0] if eos else self.tokenizer.eos_token_id
        if sep is None:
            raise ValueError("conversation needs an eos token to separate turns; the checkpoint and the "
                             "tokenizer have none")
        return int(sep)

    @property
    def window(self) -> int | None:
        return getattr(self.model.config, "max_input_length", None) or self.tokenizer.model_max_length

    def _sanitize(self, options: dict) -> dict:
        out = {name: options.pop(name, None) for name in PIPELINE_OPTIONS}
        unknown = sorted(set(options) - set(GenerationConfig.option_names()))
        if unknown:
            raise TypeError(f"{self.task} got unknown option(s) {unknown}; known: {', '.join(PIPELINE_OPTIONS)} "
                            "and the generation options (max_new_tokens, do_sample, num_beams, ...)")
        for total in ("max_length", "min_length"):
            if options.get(total) is not None:
                raise ValueError(f"{self.task}: `{total}` counts the history, whose length varies; pass "
                                 f"`{total.replace('_length', '_new_tokens')}` instead")
        if options.get("num_return_sequences", 1) != 1:
            raise ValueError(f"{self.task} generates one response per conversation: num_return_sequences "
                             f"must be 1, got {options['num_return_sequences']!r}")
        generation = dict(options, num_return_sequences=1)
        checkpoint = generation_config_for(self.model)
        if generation.get("max_new_tokens") is None:
            generation["max_new_tokens"] = checkpoint.max_new_tokens or (
                DEFAULT_MAX_NEW_TOKENS if self.window is None else min(DEFAULT_MAX_NEW_TOKENS, self.window // 2))
        if not checkpoint.eos_ids and generation.get("eos_token_id") is None:
            generation["eos_token_id"] = self.separator
        new_tokens = generation["max_new_tokens"]
        if not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {new_tokens!r}")
        budget = None if self.window is None else self.window - new_tokens
        limit = out["max_context_length"]
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValueError(f"max_context_length must be a positive int, got {limit!r}")
            budget = limit if budget is None else min(budget, limit)
        if budget is not None and budget < 1:
            raise ValueError(f"max_new_tokens={new_tokens} leaves no room for the conversation in the model's "
                             f"{self.window} positions: lower max_new_tokens")
        out["budget"] = budget
        out["skip_special_tokens"] = True if out["skip_special_tokens"] is None else bool(out["skip_special_tokens"])
        out["generation"] = generation
        return out

    # -- the call ---------------------------------------------------------------------------------

    def __call__(self, inputs, **options):
        """Respond to every given conversation with a pending input (see the module doc)."""
        options = self._sanitize({**self.defaults, **options})
        conversations = self._conversations(inputs)
        active = [c for c in conversations if c.new_user_input is not None]
        prepared = [self._prepare(c, options["budget"]) for c in active]   # (turns, user ids, model input)
        rng = jax.random.PRNGKey(0) if options["rng"] is None else options["rng"]
        responses = []
        for k in range(0, len(prepared), self.batch_size):
            chunk = [ids for _, _, ids in prepared[k:k + self.batch_size]]
            key = jax.random.fold_in(rng, k // self.batch_size) if k else rng
            responses += self._respond(chunk, key, options)
        sep = self.separator
        for conv, (turns, user_ids, _), response in zip(active, prepared, responses):
            text = self.tokenizer.decode(response, skip_special_tokens=options["skip_special_tokens"],
                                         clean_up_tokenization_spaces=options["clean_up_tokenization_spaces"])
            conv.history = turns + [user_ids, response + [sep]]
            conv.past_user_inputs.append(conv.new_user_input)
            conv.generated_responses.append(text)
            conv.new_user_input = None
        if isinstance(inputs, Conversation):
            return inputs
        return {conv.uuid: conv.generated_responses[-1] for conv in active}

    def _conversations(self, inputs) -> list[Conversation]:
        if isinstance(inputs, Conversation):
            return [inputs]
        if isinstance(inputs, ConversationManager):
            return inputs.get_active_conversations()
        if not isinstance(inputs, (list, tuple)):
            hint = " (wrap the text: Conversation(text))" if isinstance(inputs, str) else ""
            raise TypeError(f"{self.task} takes a Conversation, a list of them or a ConversationManager, "
                            f"got {type(inputs).__name__}{hint}")
        seen = set()
        for i, conv in enumerate(inputs):
            self._check_item(conv, i)
            if conv.uuid in seen:
                raise ValueError(f"{self.task}: conversation {conv.uuid} is given twice (item {i})")
            seen.add(conv.uuid)
        return list(inputs)

    def _prepare(self, conv: Conversation, budget: int | None):
        """(the history's turn ids, the new input's ids, the truncated model input)."""
        sep = self.separator
        text = conv.new_user_input
        if not isinstance(text, str):
            raise TypeError(f"conversation {conv.uuid}: new_user_input must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"conversation {conv.uuid}: empty user input")
        conv._check_pairs(f"conversation {conv.uuid}: ")   # (the lists may have changed since construction)
        turns = [list(t) for t in conv.history]
        if not turns:      # a prior state loaded as texts (a response may be empty: just the separator)
            turns = [self._encode(t, conv, allow_empty=not is_user) + [sep]
                     for is_user, t in conv.iter_texts()][:-1]
        elif len(turns) != 2 * len(conv.past_user_inputs):
            raise ValueError(f"conversation {conv.uuid}: history has {len(turns)} turns for "
                             f"{len(conv.past_user_inputs)} past inputs and responses")
        user_ids = self._encode(text, conv) + [sep]
        return turns, user_ids, self._truncate(turns + [user_ids], budget)

    def _encode(self, text: str, conv: Conversation, allow_empty: bool = False) -> list[int]:
        ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        if not ids and not allow_empty:
            raise ValueError(f"conversation {conv.uuid}: {text!r} encodes to no tokens")
        return ids

    @staticmethod
    def _truncate(turns: list[list[int]], budget: int | None) -> list[int]:
        """The newest whole turns that fit `budget` tokens, concatenated; when
        the last turn alone does not fit, its last `budget` tokens."""
        if budget is not None and len(turns[-1]) > budget:
            return turns[-1][-budget:]
        kept, used = [], 0
        for turn in reversed(turns):
            if budget is not None and used + len(turn) > budget:
                break
            kept.append(turn)
            used += len(turn)
        return [t for turn in reversed(kept) for t in turn]

    def _respond(self, inputs: list[list[int]], rng, options) -> list[list[int]]:
        """One left-padded generate call; per row, the new ids up to the first eos."""
        width = max(len(ids) for ids in inputs)
        input_ids = np.zeros((len(inputs), width), np.int32)
        mask = np.zeros((len(inputs), width), np.int32)
        for row, ids in enumerate(inputs):
            input_ids[row, width - len(ids):] = ids
            mask[row, width - len(ids):] = 1
        gen = options["generation"]
        sequences = np.asarray(generate(self.model, input_ids, mask, rng=rng, **gen))
        eos = set(generation_config_for(self.model).replace(**gen).eos_ids)
        out = []
        for row in sequences[:, width:]:
            new = [int(t) for t in row]
            ends = [i for i, t in enumerate(new) if t in eos]
            out.append(new[:ends[0]] if ends else new)
        return out
