"""A loopback stand-in for the Hugging Face hub, for tests that load models by hub id.

It serves local directories as model repos over HTTP on 127.0.0.1 (a free
port), implementing what ``huggingface_hub`` 2.x's ``snapshot_download`` /
``hf_hub_download`` / ``HfApi.list_repo_files`` use:

* ``GET  /api/models/{repo}[/revision/{rev}]`` -> ``{"id", "sha", "siblings": [{"rfilename"}]}``
* ``GET  /api/models/{repo}/tree/{rev}[/{path}]`` -> ``[{"type": "file", "path", "size", "oid", "lfs"}]``
* ``HEAD|GET /{repo}/resolve/{rev}/{filename}`` -> the file, with ``X-Repo-Commit``,
  ``ETag`` (git blob sha1, or sha256 for LFS files) and ``Content-Length``

Errors carry the hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) so huggingface_hub raises its usual exceptions. Every request
is recorded in ``server.requests`` as ``(method, path)``.

huggingface_hub reads ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` / ``HF_HOME`` when it
is imported, so run the code under test in a subprocess with
:func:`hub_env` and :func:`run_python`::

    from .hub_server import HubServer, hub_env, run_python   # inside tests/checkpoints
    with HubServer({"tiny-org/tiny-bert": model_dir}) as hub:
        out = run_python(code, hub_env(tmp_path / "hf_home", hub.url))
    out2 = run_python(code, hub_env(tmp_path / "hf_home", offline=True))  # from the cache

tests/checkpoints is a package (it has an ``__init__.py``); pytest puts ``tests/``
on ``sys.path`` for it, so other test folders can ``from checkpoints.hub_server
import HubServer`` (or, once ``tests/`` is a package too, ``from
tests.checkpoints.hub_server import ...``). The fixture ``hub_server`` in
tests/checkpoints/conftest.py yields a started server. Only the standard
library is used, so the module can also be loaded by path with importlib.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["HubServer", "hub_env", "run_python", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]

_LFS_SUFFIXES = (".safetensors", ".bin", ".msgpack", ".h5", ".model", ".spm", ".onnx", ".ot")
_REPO = r"(?P<repo>[^/]+(?:/[^/]+)?)"
_INFO = re.compile(rf"^/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_RESOLVE = re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


class _Repo:
    def __init__(self, directory: Path, branches: dict[str, str] | None, sha: str | None):
        self.directory = Path(directory)
        self.files: dict[str, bytes] = {
            p.relative_to(self.directory).as_posix(): p.read_bytes()
            for p in sorted(self.directory.rglob("*"))
            if p.is_file()
        }
        digest = hashlib.sha1()
        for name, data in self.files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha1(data).digest())
        self.sha = sha or digest.hexdigest()
        self.branches = dict(branches or {"main": self.sha})

    def commit(self, rev: str) -> str | None:
        if rev == self.sha:
            return self.sha
        return self.branches.get(rev)

    @staticmethod
    def is_lfs(name: str) -> bool:
        return name.endswith(_LFS_SUFFIXES)

    def etag(self, name: str) -> str:
        data = self.files[name]
        if self.is_lfs(name):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def tree_entry(self, name: str) -> dict:
        data = self.files[name]
        entry = {
            "type": "file",
            "path": name,
            "size": len(data),
            "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
        }
        if self.is_lfs(name):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry


class HubServer:
    """Serve ``{repo_id: directory}`` like the hub, on ``self.url``, from a background thread.

    Files are read when a repo is added (later changes to the directory are
    not served). Use as a context manager, or call ``start()`` / ``stop()``.
    """

    def __init__(self, repos: dict[str, str | os.PathLike] | None = None):
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for repo_id, directory in (repos or {}).items():
            self.add_repo(repo_id, directory)

    def add_repo(
        self,
        repo_id: str,
        directory: str | os.PathLike,
        branches: dict[str, str] | None = None,
        sha: str | None = None,
    ) -> str:
        """Serve ``directory`` as ``repo_id``; returns its commit sha (branch ``main`` points at it)."""
        repo = _Repo(Path(directory), branches, sha)
        with self._lock:
            self.repos[repo_id] = repo
        return repo.sha

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def requested(self, method: str | None = None, contains: str = "") -> list[str]:
        """Paths requested so far (optionally only ``method`` ones containing ``contains``)."""
        with self._lock:
            return [p for m, p in self.requests if (method is None or m == method) and contains in p]


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, head: bool = False) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

    def _error(self, status: int, code: str, message: str, head: bool = False, extra: dict | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        headers.update(extra or {})
        self._send(status, json.dumps({"error": message}).encode(), headers, head)

    def _repo(self, repo_id: str, rev: str, head: bool = False):
        with self.hub._lock:
            repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head)
            return None, None
        commit = repo.commit(unquote(rev))
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None, None
        return repo, commit

    def _handle(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.hub._lock:
            self.hub.requests.append((self.command, self.path))
        if m := _TREE.match(path):
            repo, commit = self._repo(m["repo"], m["rev"], head)
            if repo is None:
                return
            prefix = (m["path"] or "").strip("/")
            names = [n for n in repo.files if not prefix or n.startswith(prefix + "/")]
            return self._json([repo.tree_entry(n) for n in names], head=head)
        if m := _INFO.match(path):
            repo, commit = self._repo(m["repo"], m["rev"] or "main", head)
            if repo is None:
                return
            return self._json(
                {
                    "_id": commit[:24],
                    "id": m["repo"],
                    "modelId": m["repo"],
                    "sha": commit,
                    "private": False,
                    "siblings": [{"rfilename": n} for n in repo.files],
                },
                head=head,
            )
        if m := _RESOLVE.match(path):
            repo, commit = self._repo(m["repo"], m["rev"], head)
            if repo is None:
                return
            name = m["file"]
            if name not in repo.files:
                return self._error(404, "EntryNotFound", "Entry not found", head, {"X-Repo-Commit": commit})
            etag = repo.etag(name)
            headers = {
                "X-Repo-Commit": commit,
                "ETag": f'"{etag}"',
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "none",
            }
            if repo.is_lfs(name):
                headers["X-Linked-Etag"] = f'"{etag}"'
                headers["X-Linked-Size"] = str(len(repo.files[name]))
            return self._send(200, repo.files[name], headers, head)
        self._error(404, "NotFound", f"the test hub does not implement {self.command} {path}", head)

    def do_GET(self):  # noqa: N802
        self._handle(head=False)

    def do_HEAD(self):  # noqa: N802
        self._handle(head=True)


def hub_env(hf_home: str | os.PathLike, endpoint: str | None = None, offline: bool = False, **extra: str) -> dict:
    """Environment for a subprocess using huggingface_hub against ``endpoint`` with its cache in ``hf_home``.

    Drops any HF_* / proxy variables of the parent, disables telemetry, progress
    bars, implicit tokens and xet, and puts the repo root first on PYTHONPATH.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HF_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="1" if offline else "0",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
        HF_HUB_DISABLE_XET="1",
        HF_HUB_ETAG_TIMEOUT="5",
        HF_HUB_DOWNLOAD_TIMEOUT="10",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
    )
    # An endpoint nobody listens on when none is given: any network use fails fast.
    env["HF_ENDPOINT"] = endpoint or "http://127.0.0.1:9"
    env.update(extra)
    return env


def run_python(code: str, env: dict, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in ``env`` from the repo root; raise with its output when it fails and ``check``."""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"subprocess failed with exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc
