"""`translation` and `summarization`: transformers 4.57's TranslationPipeline
and SummarizationPipeline (transformers 5 dropped them), with
`jaxnlp.generate` doing the search.

An item is a text (a str). Its result is a list of `num_return_sequences`
dicts {"translation_text": ...} / {"summary_text": ...} (with
`return_tensors=True`: {"translation_token_ids": [...]} / {"summary_token_ids":
[...]}, the generated ids as a list of ints, decoder start token included).
As in 4.57, a str gives its list, a list of texts a list of those lists, or
a flat list of dicts when each text has one result. An empty text (or one of
spaces) is encoded as its special tokens alone (e.g. the eos token) and
generated from that, as in 4.57; one that gives no tokens at all is a
ValueError naming its index.

Generation settings, applied exactly as 4.57 does (checked against it):
1. the pipeline's defaults `max_new_tokens=256, num_beams=4`;
2. the checkpoint's generation config (generation_config.json, else
   config.json) fills every option still at transformers' global default. So
   the checkpoint's own `num_beams` or `max_new_tokens` never count (the
   pipeline's are not defaults), and when it sets a `max_length` other than
   20, the pipeline's `max_new_tokens` is dropped;
3. `config.task_specific_params[task]` (t5-small's "summarization",
   "translation_en_to_de", ...) overrides them, and its "prefix" (else
   config.json's `prefix`) goes before every text. A `max_length` from there
   does not drop the pipeline's `max_new_tokens` (which wins over it: 4.57
   applies these after that check), and neither does a `max_length` given at
   call time;
4. the pad token defaults to the tokenizer's; options given at call time
   (or to `pipeline()`) override everything.
The task key: "summarization"; for translation `translation_{src}_to_{tgt}`
from the `translation_xx_to_yy` alias (or src_lang / tgt_lang given to
`pipeline()`); a plain "translation" without languages takes the first
`translation_*` key of task_specific_params, as 4.57 does (its languages
then become the defaults). A pair the checkpoint has no params for (T5 and
`translation_en_to_ro` when only en_to_de/fr are listed) gets no prefix and
no params: the text goes in as it is, as in 4.57.

Multilingual tokenizers (mBART, mBART-50, M2M100): the text is marked with
`src_lang` and generation starts with `tgt_lang` (`forced_bos_token_id` =
the target language's id, unless the call sets one); both are needed (a
ValueError says so), and a code the tokenizer does not know is a ValueError
naming it (4.57 silently uses the unk token for mBART, a KeyError for
M2M100). No prefix is added there (4.57 neither). Other tokenizers ignore
the languages (as 4.57: "no effect for single pair translation models").

Options: every generation option (`num_beams`, `max_length`,
`max_new_tokens`, `min_length`, `no_repeat_ngram_size`, `length_penalty`,
`early_stopping`, `num_return_sequences`, `do_sample`, ...); `return_tensors`
(`return_text` is accepted and, as in 4.57, has no effect); `clean_up_tokenization_spaces`
(default False, as 4.57, whatever the tokenizer's own setting);
`stop_sequence` (its first token becomes the eos token); `truncation`; `rng`
(sampling key, default PRNGKey(0); chunk k uses fold_in(rng, k)); for
translation `src_lang`, `tgt_lang`.

Decisions where we differ from 4.57:
- truncation: 4.57 never truncates by default (an overlong text crashes in
  the model). Here, as text-classification does, texts longer than the model
  window (the tokenizer's model_max_length, capped at the model's positions)
  are truncated by default, with a UserWarning; `truncation=False` raises
  InputTooLongError instead. `truncation=True` (or "longest_first") gives
  4.57's `truncation=True` result.
- options given to `pipeline()` act as call options (4.57 lets
  task_specific_params override generation options given to `pipeline()`).
- the pipeline's own `max_new_tokens=256`, when it stays, is capped at the
  decoder's positions (4.57 crashes if generation gets that far); a length
  you pass that does not fit raises InputTooLongError.
- a chunk of `batch_size` texts is generated in one call (4.57 runs them one
  by one); each text's ids are trimmed to its own end, as 4.57's output.
- `return_type`, `text2text-generation` and assistant models are not
  supported; sampling draws from JAX's generator (not torch's).
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import numpy as np

from jaxnlp.errors import InputTooLongError
from jaxnlp.generation.api import generate, generation_config_for
from jaxnlp.generation.config import GenerationConfig
from jaxnlp.pipelines.base import Pipeline

# transformers 4.57 Text2TextGenerationPipeline._default_generation_config
PIPELINE_GENERATION_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}
GLOBAL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(GenerationConfig)
                   if f.name not in ("extra", "set_fields")}
GLOBAL_DEFAULTS["max_new_tokens"] = None
TRUNCATION_VALUES = {"longest_first": True, "only_first": True, "do_not_truncate": False}


class Text2TextGenerationPipeline(Pipeline):
    item_types = (str,)
    item_name = "text (str)"
    return_name = "generated"
    options = ("return_text", "return_tensors", "clean_up_tokenization_spaces", "truncation", "stop_sequence",
               "rng")

    def __post_init__(self):
        self._task_key = self._find_task_key()
        self._prefix, self._generation = self._checkpoint_generation()
        super().__post_init__()

    # -- settings -----------------------------------------------------------------------------

    def _find_task_key(self) -> str:
        return self.task

    def _task_params(self) -> dict:
        params = self.model.config.get("task_specific_params") or {}
        value = params.get(self._task_key) if isinstance(params, dict) else None
        return dict(value) if isinstance(value, dict) else {}

    def _checkpoint_generation(self) -> tuple[str, dict]:
        """(prefix, generation options) before call options: steps 1-4 of the module docstring."""
        checkpoint = generation_config_for(self.model)
        model_values = {k: getattr(checkpoint, k) for k in GLOBAL_DEFAULTS
                        if getattr(checkpoint, k) != GLOBAL_DEFAULTS[k]}
        model_values.update(checkpoint.extra)

        def fill_defaults(options):       # transformers' use_model_defaults
            for key, value in model_values.items():
                if options.get(key, GLOBAL_DEFAULTS.get(key)) == GLOBAL_DEFAULTS.get(key):
                    options[key] = value

        options = dict(PIPELINE_GENERATION_DEFAULTS)
        fill_defaults(options)
        if options.get("max_length", 20) != 20:
            options.pop("max_new_tokens", None)
        params = self._task_params()
        prefix = params.pop("prefix", None)
        if prefix is None:
            prefix = self.model.config.get("prefix") or ""
        options.update(params)
        if options.get("pad_token_id") is None and self.tokenizer.pad_token_id is not None:
            options["pad_token_id"] = self.tokenizer.pad_token_id
        fill_defaults(options)            # again when generate() is called
        return str(prefix), options

    def _sanitize(self, options: dict) -> dict:
        out = {name: options.pop(name, None) for name in self.options}
        unknown = sorted(set(options) - set(GenerationConfig.option_names()))
        if unknown:
            raise TypeError(f"{self.task} got unknown option(s) {unknown}; known: {', '.join(self.options)} "
                            "and the generation options (num_beams, max_length, max_new_tokens, ...)")
        out["tensors"] = bool(out["return_tensors"])
        out["clean_up_tokenization_spaces"] = bool(out["clean_up_tokenization_spaces"])
        truncation = getattr(out["truncation"], "value", out["truncation"])     # a TruncationStrategy
        if truncation is None:
            truncation = True
        elif isinstance(truncation, str):
            if truncation not in TRUNCATION_VALUES:
                raise ValueError(f"truncation must be a bool or one of {sorted(TRUNCATION_VALUES)}, "
                                 f"got {truncation!r}")
            truncation = TRUNCATION_VALUES[truncation]
        elif not isinstance(truncation, (bool, np.bool_)):
            raise TypeError(f"truncation must be a bool or a str, got {type(truncation).__name__}")
        out["truncation"] = bool(truncation)
        generation = dict(options)
        if out["stop_sequence"] is not None:
            if not isinstance(out["stop_sequence"], str):
                raise TypeError(f"stop_sequence must be a str, got {type(out['stop_sequence']).__name__}")
            ids = self.tokenizer.encode(out["stop_sequence"], add_special_tokens=False)
            if not ids:
                raise ValueError(f"stop_sequence {out['stop_sequence']!r} has no tokens")
            generation["eos_token_id"] = ids[0]
        out["generation"] = generation
        out["chunk"] = [0]
        return out

    def _generation_options(self, options: dict, extra: dict) -> dict:
        """The options of one generate call: the checkpoint's, the call's, `extra` (forced BOS)."""
        call = {**extra, **options["generation"]}
        gen = {**self._generation, **call}
        if "max_length" not in call and gen.get("max_length") == 20:
            gen.pop("max_length")         # transformers: 20 is "unset" (20 new tokens, capped at the positions)
        limit = getattr(self.model.config, "max_target_length", self.model.max_positions)
        if ("max_new_tokens" not in call and gen.get("max_new_tokens") == PIPELINE_GENERATION_DEFAULTS["max_new_tokens"]
                and limit is not None and gen["max_new_tokens"] > limit):
            gen["max_new_tokens"] = limit
        return gen

    # -- steps ------------------------------------------------------------------------------------

    def _encoder_options(self, options: dict) -> tuple[str, dict, dict]:
        """(prefix, tokenizer options, generation options) for the texts."""
        return self._prefix, {}, {}

    def _window(self) -> int | None:
        limits = [n for n in (self.tokenizer.model_max_length, self.model.max_positions) if n is not None]
        return min(limits) if limits else None

    def preprocess(self, items, options):
        prefix, tok_options, extra = self._encoder_options(options)
        texts = [prefix + text for text in items]
        window = self._window()
        try:
            enc = self.tokenizer(texts, max_length=window, truncation=False, **tok_options)
        except InputTooLongError as e:
            if not options["truncation"]:
                raise InputTooLongError(f"{self.task}: {e} (the model window is {window} tokens)") from None
            warnings.warn(f"{self.task}: a text is longer than the model window ({window} tokens) and was "
                          "truncated; pass truncation=False to get an error instead", UserWarning, stacklevel=4)
            enc = self.tokenizer(texts, max_length=window, truncation=True, **tok_options)
        empty = np.nonzero(enc["attention_mask"].sum(axis=1) == 0)[0]
        if empty.size:
            raise ValueError(f"{self.task}: item {self.item_index(int(empty[0]))} gives no tokens to encode")
        return enc["input_ids"], enc["attention_mask"], self._generation_options(options, extra)

    def forward(self, inputs, options):
        """Per item: its generated rows, trimmed to the item's own end (as 4.57's one-by-one output)."""
        ids, mask, gen = inputs
        rng = options["rng"] if options["rng"] is not None else jax.random.PRNGKey(0)
        chunk = options["chunk"][0]
        options["chunk"][0] += 1
        if chunk:
            rng = jax.random.fold_in(rng, chunk)
        config = GenerationConfig.from_dict(gen)
        sequences = np.asarray(generate(self.model, ids, mask, generation_config=config, rng=rng))
        per_item = sequences.shape[0] // ids.shape[0]
        eos = config.eos_ids
        out = []
        for i in range(ids.shape[0]):
            rows = sequences[i * per_item:(i + 1) * per_item]
            ends = []
            for row in rows:
                hits = np.nonzero(np.isin(row[1:], eos))[0] if eos else ()
                ends.append(int(hits[0]) + 2 if len(hits) else len(row))
            out.append(rows[:, :max(ends)])
        return out

    def postprocess(self, items, inputs, outputs, options):
        results = []
        for rows in outputs:
            if options["tensors"]:
                results.append([{f"{self.return_name}_token_ids": [int(t) for t in row]} for row in rows])
            else:
                results.append([{f"{self.return_name}_text": self.tokenizer.decode(
                    row, skip_special_tokens=True,
                    clean_up_tokenization_spaces=options["clean_up_tokenization_spaces"])} for row in rows])
        return results

    def _shape_output(self, results, single, options, inputs):
        if single:
            return results[0]
        if all(len(r) == 1 for r in results):
            return [r[0] for r in results]
        return results


class SummarizationPipeline(Text2TextGenerationPipeline):
    return_name = "summary"


class TranslationPipeline(Text2TextGenerationPipeline):
    return_name = "translation"
    options = Text2TextGenerationPipeline.options + ("src_lang", "tgt_lang")

    @property
    def _multilingual(self) -> bool:
        return bool(self.tokenizer.lang_code_to_id)

    def _find_task_key(self) -> str:
        src, tgt = self.defaults.get("src_lang"), self.defaults.get("tgt_lang")
        if src is not None and tgt is not None:
            return f"translation_{src}_to_{tgt}"
        if src is None and tgt is None:
            params = self.model.config.get("task_specific_params") or {}
            key = next((k for k in params if isinstance(k, str) and k.startswith("translation")), None) \
                if isinstance(params, dict) else None
            if key is not None:
                warnings.warn(f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to '
                              f'"{key}"', UserWarning, stacklevel=4)
                parts = key.split("_")
                if len(parts) == 4:
                    self.defaults = {**self.defaults, "src_lang": parts[1], "tgt_lang": parts[3]}
                return key
        return self.task

    def _sanitize(self, options):
        out = super()._sanitize(options)
        for name in ("src_lang", "tgt_lang"):
            if out[name] is not None and not isinstance(out[name], str):
                raise TypeError(f"{name} must be a str (a language code), got {type(out[name]).__name__}")
            if out[name] is not None and self._multilingual:
                self.tokenizer.get_lang_id(out[name])        # ValueError naming an unknown code
        return out

    def _encoder_options(self, options):
        if not self._multilingual:
            return self._prefix, {}, {}
        src, tgt = options["src_lang"], options["tgt_lang"]
        if src is None or tgt is None:
            codes = ", ".join(list(self.tokenizer.lang_code_to_id)[:6])
            raise ValueError(f"translation with this checkpoint needs src_lang and tgt_lang (language codes such "
                             f"as {codes}, ...): pass them to pipeline() or to the call, or use a "
                             "translation_XX_to_YY task")
        return "", {"src_lang": src}, {"forced_bos_token_id": self.tokenizer.get_lang_id(tgt)}
