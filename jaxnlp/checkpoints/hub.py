"""Turning a local path or a Hugging Face hub repo id into a local model directory.

A hub repo is downloaded with ``huggingface_hub`` into its usual cache
(``HF_HOME`` / ``HF_HUB_CACHE``), so files are shared with transformers, and
``HF_HUB_OFFLINE=1`` / ``HF_ENDPOINT`` / ``HF_TOKEN`` behave as users expect.
Only one weights format is fetched: the one :func:`read_state_dict` would pick
(safetensors before ``.bin``), plus the small config / tokenizer files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from jaxnlp.checkpoints.state_dict import WEIGHTS_NAMES, find_weights, read_shard_index
from jaxnlp.errors import CheckpointError

__all__ = ["resolve_model_dir", "SMALL_FILE_PATTERNS"]

# Config, generation config, tokenizer files (tokenizer.json, vocab.txt, merges.txt,
# spiece.model, sentencepiece.bpe.model, Marian's source.spm / target.spm, ...).
SMALL_FILE_PATTERNS = ["*.json", "*.txt", "*.model", "*.spm"]
# Only the repo's root folder: subfolders hold other exports (onnx/, training checkpoints, ...).
_IGNORE_PATTERNS = ["*/*"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")


def _local_dir(path_or_id) -> Path | None:
    """The local directory meant by ``path_or_id``, None if it should be read as a repo id."""
    if isinstance(path_or_id, os.PathLike):
        path = Path(path_or_id).expanduser()
        if path.is_dir():
            return path
        if path.exists():
            raise CheckpointError(f"{path} is a file, not a model directory")
        raise CheckpointError(f"no such directory: {path}")
    if not isinstance(path_or_id, str) or not path_or_id:
        raise CheckpointError(f"expected a model directory or a hub repo id, got {path_or_id!r}")
    s = path_or_id
    path = Path(s).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{s} is a file, not a model directory")
    looks_like_path = (
        s.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or s in (".", "..")
        or "\\" in s
        or s.count("/") > 1
        or s.endswith("/")
        or re.match(r"^[A-Za-z]:[\\/]", s) is not None
    )
    if looks_like_path:
        raise CheckpointError(f"no such directory: {s}")
    if not _REPO_ID.match(s) or ".." in s:
        raise CheckpointError(f"{s!r} is neither a local directory nor a valid hub repo id (like 'org/name')")
    return None


def _weight_patterns(files: list[str], folder_of_small_files: Path) -> list[str]:
    """The weight files to fetch, given the repo's file list (root-level names matter)."""
    name = find_weights(f for f in files if "/" not in f)
    if name is None:
        return []
    if not name.endswith(".index.json"):
        return [name]
    weight_map = read_shard_index(folder_of_small_files / name)
    return [name, *sorted(set(weight_map.values()))]


def _offline_flag() -> str:
    return os.environ.get("HF_HUB_OFFLINE", "0")


def resolve_model_dir(path_or_id: str | os.PathLike, revision: str | None = None) -> Path:
    """A local directory holding the model's files.

    An existing directory is returned as is. A string that looks like a path
    but does not exist raises CheckpointError. Anything else is a hub repo id
    (``org/name``): its config / tokenizer files and one weights format
    (safetensors preferred over ``.bin``) are fetched into the hub cache at
    ``revision`` (default branch when None), or found there when the hub is
    unreachable or ``HF_HUB_OFFLINE=1``. Hub failures raise CheckpointError
    naming the repo id.
    """
    local = _local_dir(path_or_id)
    if local is not None:
        if revision is not None:
            raise CheckpointError(f"revision={revision!r} was given but {local} is a local directory")
        return local
    repo_id = str(path_or_id)
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:  # pragma: no cover - a declared dependency
        raise CheckpointError(
            f"{repo_id!r} is not a local directory, and huggingface_hub is not installed to fetch it from the hub"
        ) from None
    try:
        return _download(repo_id, revision)
    except CheckpointError:
        raise
    except Exception as e:
        mapped = _hub_error(repo_id, revision, e)
        if mapped is None:
            raise
        raise mapped from e


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import HfApi, get_cached_repo_tree, snapshot_download
    from huggingface_hub import constants
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    api = HfApi()
    # Pin one commit for the listing and every download (falls back to the cached ref offline).
    rev = api.resolve_revision(repo_id, revision=revision)

    def fetch(patterns: list[str], ignore: list[str] | None = _IGNORE_PATTERNS) -> Path:
        return Path(snapshot_download(repo_id, revision=rev, allow_patterns=patterns, ignore_patterns=ignore))

    # The small files first; this also caches the repo's file listing, which tells which
    # weights format to fetch without another request.
    folder = fetch(SMALL_FILE_PATTERNS)
    # A sentence-transformers repo keeps its Pooling / Dense / Normalize modules in subfolders.
    module_dirs = _sentence_transformers_folders(folder)
    if module_dirs:
        fetch([f"{d}/*" for d in module_dirs], ignore=None)
    files: list[str] | None
    try:
        files = [f.path for f in get_cached_repo_tree(repo_id, revision=rev.resolved)]
    except CachedRepoTreeNotFoundError:
        files = None if constants.is_offline_mode() else api.list_repo_files(repo_id, revision=rev.resolved)
    if files is None:
        # Offline, with a cache written by something that keeps no listing: take what the snapshot has.
        patterns = SMALL_FILE_PATTERNS + list(WEIGHTS_NAMES) + ["model-*.safetensors", "pytorch_model-*.bin"]
        return fetch(patterns)
    weights = _weight_patterns(files, folder)
    if weights:
        folder = fetch(SMALL_FILE_PATTERNS + weights)
    return folder


def _sentence_transformers_folders(folder: Path) -> list[str]:
    """The module subfolders that a sentence-transformers modules.json names ("1_Pooling", ...)."""
    import json

    listing = folder / "modules.json"
    if not listing.is_file():
        return []
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
        paths = [e.get("path", "") for e in entries if isinstance(e, dict)]
    except (ValueError, AttributeError, TypeError):
        return []
    return sorted({p.strip("/") for p in paths if isinstance(p, str) and p.strip("/") and ".." not in p})


def _is_unreachable(e: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        import httpx2

        transport = (httpx2.TransportError,)
    except ImportError:  # pragma: no cover
        transport = ()
    if isinstance(e, OfflineModeIsEnabled | ConnectionError | TimeoutError) or (transport and isinstance(e, transport)):
        return True
    return isinstance(e, HfHubHTTPError) and e.response is not None and e.response.status_code >= 500


def _hub_error(repo_id: str, revision: str | None, e: BaseException) -> CheckpointError | None:
    """A CheckpointError for a huggingface_hub failure, None for errors that are not the hub's."""
    from huggingface_hub import constants
    from huggingface_hub import errors as E

    at = f" at revision {revision!r}" if revision else ""
    where = f"{repo_id!r}{at} is not a local directory, so it was looked up as a hub repo"
    cause = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    if isinstance(e, E.RevisionNotFoundError):
        return CheckpointError(f"{where}, but revision {revision or 'main'!r} was not found there ({cause})")
    if isinstance(e, E.RepositoryNotFoundError):  # includes GatedRepoError
        return CheckpointError(
            f"{where}, but the hub ({constants.ENDPOINT}) has no such repo, or it is private/gated and "
            f"no valid token was sent (log in with `hf auth login` or set HF_TOKEN) ({cause})"
        )
    unreachable = isinstance(e, (E.RevisionResolutionError, E.LocalEntryNotFoundError)) or _is_unreachable(e)
    if unreachable:
        return CheckpointError(
            f"{where}: it was not found locally (hub cache {constants.HF_HUB_CACHE}) and the hub "
            f"({constants.ENDPOINT}) could not be reached (HF_HUB_OFFLINE={_offline_flag()}) ({cause})"
        )
    if isinstance(e, (E.HfHubHTTPError, OSError)):
        return CheckpointError(f"{where}, and fetching it failed ({cause})")
    return None
