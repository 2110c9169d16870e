"""What a run's code was: the commit of a git working tree, else the content hash of the
folder (``services.registry_ports.CodeRefs``).

The commit is read from the repository's files (``HEAD``, loose and packed refs), so no git
binary is needed; uncommitted changes are not seen in it, which is why a folder that is no
git working tree is hashed whole instead.
"""

from __future__ import annotations

from pathlib import Path

from aiplane.artifacts.transfer import scan
from aiplane.core.errors import AiplaneError

# A workdir larger than this is not hashed for its lineage (a dataset in the code folder):
# the registration must not read gigabytes to name the code.
MAX_HASHED_BYTES = 256 * 1024 * 1024


def _git_dir(workdir: Path) -> Path | None:
    for folder in (workdir, *workdir.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                found = Path(text.partition(":")[2].strip())
                return found if found.is_absolute() else (folder / found).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        return (git_dir / common.read_text().strip()).resolve()
    return git_dir


def _ref(git_dir: Path, name: str) -> str | None:
    for base in (git_dir, _common_dir(git_dir)):
        loose = base / name
        if loose.is_file():
            return loose.read_text().strip()
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, ref = line.partition(" ")
                if ref == name:
                    return sha
    return None


def git_commit(workdir: Path) -> str | None:
    git_dir = _git_dir(workdir)
    if git_dir is None:
        return None
    head = (git_dir / "HEAD").read_text().strip()
    if head.startswith("ref:"):
        return _ref(git_dir, head.partition(":")[2].strip())
    return head or None


class WorkdirCodeRefs:
    def code_ref(self, workdir: str | None) -> str | None:
        if workdir is None:
            return None
        folder = Path(workdir)
        if not folder.is_dir():
            return None
        try:
            commit = git_commit(folder)
        except OSError:
            commit = None
        if commit:
            return f"git:{commit}"
        if _size(folder) > MAX_HASHED_BYTES:
            return None
        try:
            return scan(folder).digest
        except (AiplaneError, OSError):
            return None


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > MAX_HASHED_BYTES:
                break
    return total
