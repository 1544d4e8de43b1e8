"""Run folders on the Hugging Face Hub: a model id wherever a run folder is taken, and
`textrnn push`.

A reference to a run is a local path or a Hub model id, `user/name` with an optional
`@revision` (a branch, tag or commit). An existing local path always wins; anything else
shaped like a model id is fetched with `huggingface_hub`'s snapshot download, limited to
the files a run folder has (never the resume state or anything else the repository
holds), into its cache, and then read exactly as a local folder is (manifest digests,
shapes before allocation, no pickle). `HF_HUB_OFFLINE=1` reads the cache alone; private
and gated repositories use `huggingface_hub`'s own login (`HF_TOKEN` or `hf auth login`),
which textrnn never reads, passes on or logs.
"""
import logging
import os
import re
from pathlib import Path

from .errors import CheckpointError, ConfigError, first_line
from .manifest import read_manifest
from .run_files import CONFIG, MANIFEST, STATE
from .tasks import run_files

log = logging.getLogger("textrnn")

# The Hub's repository names: a namespace and a name of letters, digits, '-', '_' and '.',
# neither starting with a '-' or '.' (huggingface_hub's validate_repo_id); a revision after '@'.
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
MODEL_ID = re.compile(rf"(?P<repo>{_PART}/{_PART})(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]{{0,199}}))?")
LOGIN = "log in with `hf auth login` or set HF_TOKEN"


def model_id(ref) -> tuple[str, str | None] | None:
    """(repository, revision or None) if `ref` is shaped like a Hub model id, else None."""
    m = MODEL_ID.fullmatch(str(ref))
    return (m["repo"], m["revision"]) if m and ".." not in str(ref) else None


def run_files_on_hub(with_state: bool = False) -> list[str]:
    """The names of a run folder's files: what a download fetches and a push
    sends (the resume state only when asked)."""
    names = run_files() | {MANIFEST}
    return sorted(names if with_state else names - {STATE})


def run_folder(ref) -> Path:
    """The local folder of a run: `ref` itself if that path exists, or if it is not shaped
    like a model id, or if its first part is a folder here (`runs/shakespear`, a typo, is a
    missing local run, never a download from a Hub user named "runs"), so the caller's own
    message says it is missing; else the Hub model's run folder, downloaded into (or,
    offline, read from) the Hub cache."""
    path = Path(ref)
    found = model_id(ref)
    if path.exists() or found is None or path.parent.is_dir() and str(path.parent) != ".":
        return path
    folder = download(*found, ref=str(ref))
    log.info("%s: the Hub model %s%s (%s)", ref, found[0], f" at {found[1]}" if found[1] else "", folder)
    return folder


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download(repo: str, revision: str | None, ref: str) -> Path:
    """The run folder of Hub model `repo` at `revision`, from the cache or the Hub; one
    CheckpointError line for each way that fails."""
    from huggingface_hub import snapshot_download

    from .version import __version__
    log.debug("%s is no local folder: reading the Hub model %s%s", ref, repo,
              f" at {revision}" if revision else "")
    try:
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=run_files_on_hub(),
                                        local_files_only=offline(), library_name="textrnn",
                                        library_version=__version__))
    except Exception as exc:  # huggingface_hub's errors differ by version: sorted by name below
        raise CheckpointError(_download_failure(exc, repo, revision, ref)) from None
    return checked_download(folder, repo, revision)


def _download_failure(exc: Exception, repo: str, revision: str | None, ref: str) -> str:
    """One line for a failed snapshot download, by the kind of failure."""
    kinds = {type(exc).__name__} | {c.__name__ for c in type(exc).__mro__}
    here = f"{ref} is not a folder here"
    if "RevisionNotFoundError" in kinds:
        return (f"{here}, and the Hub model {repo} has no revision {revision!r}; pass an existing "
                "branch, tag or commit after @, or leave it out for main")
    if "GatedRepoError" in kinds:
        return (f"{here}, and the Hub model {repo} is gated: accept its conditions on its page, "
                f"then {LOGIN}")
    if "RepositoryNotFoundError" in kinds:
        return (f"{here}, and no Hub model {repo} was found (a private one needs a login: "
                f"{LOGIN}); check the path or the id")
    if "IncompleteSnapshotError" in kinds:
        return (f"{here}, and the cached copy of the Hub model {repo} is incomplete (an "
                "interrupted download); connect to the network and run again to finish it")
    if "HFValidationError" in kinds:
        return f"{here}, and {ref!r} is not a valid Hub model id; check the path"
    if offline():
        return (f"{here}, and the Hub model {repo} is not in the local cache (HF_HUB_OFFLINE is "
                "set); check the path, or run again online without HF_HUB_OFFLINE")
    if "LocalEntryNotFoundError" in kinds or "OfflineModeIsEnabled" in kinds:
        return (f"{here}, and the Hub model {repo} is not in the local cache and the Hub could "
                "not be reached; check the path, or the network")
    return (f"{here}, and the Hub model {repo} could not be read ({type(exc).__name__}: "
            f"{first_line(exc)}); check the path, the id and the network")


def checked_download(folder: Path, repo: str, revision: str | None) -> Path:
    """`folder` if it holds a whole textrnn run: a config and a manifest, and every file the
    manifest lists that a download fetches (an interrupted download never passes for a run)."""
    at = f" at {revision}" if revision else ""
    if not (folder / CONFIG).is_file() or not (folder / MANIFEST).is_file():
        raise CheckpointError(f"the Hub model {repo}{at} is not a textrnn run (it has no {CONFIG} "
                              f"and {MANIFEST}); pass a repository written by `textrnn push`")
    manifest = read_manifest(folder) or {}
    missing = [n for n in manifest.get("files", {}) if n != STATE and not (folder / n).is_file()]
    if missing:
        raise CheckpointError(f"the copy of the Hub model {repo}{at} in the cache is incomplete "
                              f"(no {', '.join(missing[:3])}); connect to the network and run again")
    return folder


def display_name(ref) -> str:
    """A short name for a run: a Hub model's name, or the folder's own."""
    found = model_id(ref) if not Path(ref).exists() else None
    return found[0].split("/")[1] if found else (Path(ref).resolve().name or "model")


def check_repo_id(repo: str) -> tuple[str, str | None]:
    """(repository, revision) of a push's target, or one ConfigError line."""
    found = model_id(repo)
    if found is None:
        raise ConfigError(f"{repo!r} is not a Hub model id; pass user/name (letters, digits, "
                          "'-', '_' and '.'), for example textrnn push RUN me/shakespeare-lstm")
    return found
