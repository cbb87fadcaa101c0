"""The catalogue of default checkpoints: what `pipeline(task)` loads when no
model is given. This module is the single source of truth; weights/README.md
shows it as a table printed by `scripts/catalogue_table.py` (a test keeps the
two equal).

Each entry names a Hugging Face hub repo, the revision it is pinned to (None:
the repo's default branch), the architecture (`model_type`, one of
jaxnlp.models.registry), the licence as its model card states it, and the
task options the checkpoint implies (given to the pipeline as defaults; the
caller's options win).

Decisions:
- The defaults are rust-bert's, under the hub's current canonical repo names
  (`distilbert/distilbert-base-uncased-finetuned-sst-2-english` is the repo
  rust-bert fetches as `distilbert-base-uncased-finetuned-sst-2-english`; the
  hub redirects the old names, but the cache folder follows the name used).
- pos-tagging: rust-bert's default is a MobileBERT, which jaxnlp does not
  implement; the default here is a BERT checkpoint fine-tuned for
  (universal) POS tags, vblagoje/bert-english-uncased-finetuned-pos. Its
  tags are UPOS (NOUN, VERB, ...), rust-bert's are Penn Treebank (NN, VB, ...).
- translation: one Marian (OPUS-MT) checkpoint per language pair, picked
  from the `src_lang` / `tgt_lang` options (the `translation_xx_to_yy`
  aliases set them); T5 and M2M100 are listed as alternatives (`default`
  False): pass their hub id as model= to use them.
- No revisions are pinned yet: a pin is a full commit hash read from the hub,
  never made up, and this catalogue was written without hub access.
- Licences were read from the model cards' metadata; "see model card" where
  the card states none.
"""

from __future__ import annotations

import dataclasses
import logging
import types
from typing import Any, Mapping

from jaxnlp.errors import CheckpointError

__all__ = ["Entry", "CATALOGUE", "defaults", "translation_pairs", "default_entry", "resolve_default",
           "markdown_table"]

logger = logging.getLogger("jaxnlp.pipelines")

SEE_CARD = "see model card"


@dataclasses.dataclass(frozen=True)
class Entry:
    task: str                         # a key of jaxnlp.pipelines.TASKS
    hub_id: str
    architecture: str                 # a model_type of jaxnlp.models.registry
    licence: str
    revision: str | None = None       # a full commit hash, or None: the default branch
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)   # task options the checkpoint implies
    default: bool = True              # False: an alternative, listed but never picked by pipeline()
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "options", types.MappingProxyType(dict(self.options)))

    @property
    def pair(self) -> tuple[str, str] | None:
        """(src_lang, tgt_lang) of a translation entry."""
        if self.task != "translation" or "src_lang" not in self.options:
            return None
        return self.options["src_lang"], self.options["tgt_lang"]


def _opus(src: str, tgt: str, licence: str) -> Entry:
    return Entry("translation", f"Helsinki-NLP/opus-mt-{src}-{tgt}", "marian", licence,
                 options={"src_lang": src, "tgt_lang": tgt})


CATALOGUE: tuple[Entry, ...] = (
    Entry("text-classification", "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "distilbert",
          "apache-2.0", note="sentiment (SST-2): POSITIVE / NEGATIVE"),
    Entry("token-classification", "dbmdz/bert-large-cased-finetuned-conll03-english", "bert", SEE_CARD,
          note="NER (CoNLL-2003): PER, ORG, LOC, MISC; the card states no licence"),
    Entry("pos-tagging", "vblagoje/bert-english-uncased-finetuned-pos", "bert", SEE_CARD,
          note="rust-bert uses a MobileBERT (not supported); UPOS tags; the card states no licence"),
    Entry("fill-mask", "google-bert/bert-base-uncased", "bert", "apache-2.0"),
    Entry("text-generation", "openai-community/gpt2", "gpt2", "mit"),
    Entry("sentence-embeddings", "sentence-transformers/all-MiniLM-L12-v2", "bert", "apache-2.0"),
    Entry("zero-shot-classification", "facebook/bart-large-mnli", "bart", "mit"),
    Entry("question-answering", "distilbert/distilbert-base-cased-distilled-squad", "distilbert", "apache-2.0"),
    Entry("keyword-extraction", "sentence-transformers/all-MiniLM-L6-v2", "bert", "apache-2.0"),
    _opus("en", "fr", "apache-2.0"),
    _opus("fr", "en", "apache-2.0"),
    _opus("en", "de", "cc-by-4.0"),
    _opus("de", "en", "apache-2.0"),
    _opus("en", "es", "apache-2.0"),
    _opus("es", "en", "apache-2.0"),
    Entry("translation", "google-t5/t5-base", "t5", "apache-2.0", default=False,
          note="alternative: en to fr / de / ro"),
    Entry("translation", "facebook/m2m100_418M", "m2m_100", "mit", default=False,
          note="alternative: any pair of its 100 languages (src_lang / tgt_lang)"),
    Entry("summarization", "facebook/bart-large-cnn", "bart", "mit"),
    Entry("conversation", "microsoft/DialoGPT-medium", "gpt2", "mit"),
)


def defaults() -> dict[str, Entry]:
    """task -> its default entry, for every task but translation (see translation_pairs)."""
    return {e.task: e for e in CATALOGUE if e.default and e.task != "translation"}


def translation_pairs() -> dict[tuple[str, str], Entry]:
    """(src_lang, tgt_lang) -> the default translation entry for that pair."""
    return {e.pair: e for e in CATALOGUE if e.default and e.task == "translation"}


def default_entry(task: str, options: Mapping[str, Any] | None = None) -> Entry:
    """The catalogue's default for a pipeline task name (canonical, not an alias);
    for translation, the entry for options' (src_lang, tgt_lang)."""
    options = options or {}
    if task == "translation":
        pairs = translation_pairs()
        known = ", ".join(f"{s}-{t}" for s, t in pairs)
        src, tgt = options.get("src_lang"), options.get("tgt_lang")
        if src is None or tgt is None:
            raise ValueError("translation without model= picks a checkpoint by language pair: pass "
                             "src_lang= and tgt_lang= (or use a task like 'translation_en_to_fr'); "
                             f"pairs in the catalogue: {known}")
        entry = pairs.get((str(src).lower(), str(tgt).lower()))
        if entry is None:
            raise ValueError(f"no default translation checkpoint for {src!r} -> {tgt!r}; pairs in the "
                             f"catalogue: {known}; for another pair pass model= (e.g. "
                             f"'Helsinki-NLP/opus-mt-{src}-{tgt}' where OPUS-MT has one)")
        return entry
    entry = defaults().get(task)
    if entry is None:
        raise ValueError(f"the catalogue has no default checkpoint for task {task!r}; pass model=")
    return entry


def resolve_default(task: str, task_options: Mapping[str, Any], revision: str | None = None,
                    requested: str | None = None):
    """(local model directory, task options) for `pipeline(task)` without a model:
    the catalogue's entry fetched from the hub (or found in its cache), its
    implied options under `task_options`. Logs the choice. When the hub cannot
    give it, raises CheckpointError naming the hub id and what to pass instead."""
    from jaxnlp.checkpoints import resolve_model_dir

    entry = default_entry(task, task_options)
    revision = revision if revision is not None else entry.revision
    at = f" at revision {revision}" if revision else ""
    logger.warning("pipeline(%r): no model given, using the catalogue default %s%s",
                   requested or task, entry.hub_id, at)
    try:
        model_dir = resolve_model_dir(entry.hub_id, revision=revision)
    except CheckpointError as e:
        raise CheckpointError(
            f"pipeline({requested or task!r}) was given no model, so it uses the catalogue default "
            f"{entry.hub_id!r}, which could not be fetched: {e}. Pass model=<local directory> holding "
            f"that checkpoint (on the command line: --model DIR), e.g. one downloaded with "
            f"`hf download {entry.hub_id} --local-dir DIR` where the hub is reachable") from e
    return model_dir, {**entry.options, **task_options}


def markdown_table() -> str:
    """The catalogue as the Markdown table in weights/README.md."""
    rows = ["| task | hub id | revision | architecture | licence | options | note |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for e in CATALOGUE:
        task = e.task if e.default else f"{e.task} (alternative)"
        options = ", ".join(f"`{k}={v}`" for k, v in e.options.items()) or "-"
        rows.append(f"| {task} | [`{e.hub_id}`](https://huggingface.co/{e.hub_id}) | {e.revision or '-'} | "
                    f"`{e.architecture}` | {e.licence} | {options} | {e.note or '-'} |")
    return "\n".join(rows) + "\n"
