"""`textrnn push RUN user/name`: a verified run folder and its model card, as one commit
to a Hub model repository.

The folder is read first exactly as loading reads it (config, encoding and weights
against manifest.json and each other; every other listed file against its digest), so a
damaged run is never published. What goes: the files a run folder has (hub.py's list:
weights, config, encoding, manifest, metrics, settings, log, plots), never the resume
state unless asked (`--with-state`), and a model card made for the repository
(model_card.py). The login is huggingface_hub's own (HF_TOKEN or `hf auth login`).
"""
import fnmatch
import logging
from pathlib import Path

from .checkpoint import load_pretrained, load_training_state
from .errors import CheckpointError, first_line
from .hub import LOGIN, check_repo_id, run_files_on_hub
from .manifest import read_manifest, verify_file
from .model_card import card_text
from .run_files import CARD, STATE

log = logging.getLogger("textrnn")


def files_to_push(run_dir: Path, with_state: bool) -> list[str]:
    """The run folder's files a push sends, by name (the card is made, not copied)."""
    patterns = run_files_on_hub(with_state)
    return sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.name != CARD
                  and any(fnmatch.fnmatch(p.name, pat) for pat in patterns))


def verify_run(run_dir: Path, names: list[str]) -> None:
    """Read the run as loading does, then check each other file the manifest lists."""
    load_pretrained(run_dir)
    if STATE in names:
        load_training_state(run_dir)
    listed = (read_manifest(run_dir) or {}).get("files", {})
    for name in names:
        if name in listed and name != STATE:
            verify_file(run_dir, name)


def commit_operations(run_dir: Path, names: list[str], card: str) -> list:
    from huggingface_hub import CommitOperationAdd

    return [*[CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(run_dir / n)) for n in names],
            CommitOperationAdd(path_in_repo=CARD, path_or_fileobj=card.encode("utf-8"))]


def push(run_dir, repo: str, private: bool = False, revision: str | None = None,
         with_state: bool = False, license: str | None = None, language: list | None = None,
         message: str | None = None) -> str:
    """Upload the run folder to Hub model repository `repo` (created if missing; `revision`:
    a branch, created if missing) with its model card; returns the commit's address."""
    run_dir = Path(run_dir)
    repo, named_revision = check_repo_id(repo)
    revision = revision or named_revision
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a folder; push takes a run folder written by textrnn")
    names = files_to_push(run_dir, with_state)
    verify_run(run_dir, names)
    card = card_text(run_dir, repo, license, language)
    operations = commit_operations(run_dir, names, card)
    log.info("pushing %s to the Hub model %s: %s", run_dir, repo, ", ".join([*names, CARD]))
    return _upload(repo, operations, private, revision, message or f"Upload textrnn run {run_dir.name}")


def _upload(repo: str, operations: list, private: bool, revision: str | None, message: str) -> str:
    from huggingface_hub import HfApi

    api = HfApi(library_name="textrnn")
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo, branch=revision, exist_ok=True)
        info = api.create_commit(repo, operations, commit_message=message, revision=revision)
    except Exception as exc:  # huggingface_hub's HTTP and connection errors, by version
        raise CheckpointError(_upload_failure(exc, repo)) from None
    return getattr(info, "commit_url", None) or f"https://huggingface.co/{repo}"


def _upload_failure(exc: Exception, repo: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403) or "LocalTokenNotFoundError" in {c.__name__ for c in type(exc).__mro__}:
        return (f"the Hub refused the push to {repo} (not logged in, or no write access); "
                f"{LOGIN} with a token that may write there")
    return f"could not push to the Hub model {repo} ({type(exc).__name__}: {first_line(exc)}); check the network"
