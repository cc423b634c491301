"""The run directory written as a transaction: lock, staging folder, atomic replace.

A run never writes into its target folder. It holds an exclusive lock on the target for
its whole life (``.NAME.lock`` beside it, removed at the end), writes everything into a
staging folder beside it (``.NAME.staging``, same file system) and, once the run is
complete, renames the staging folder onto the target; an old run (``--overwrite``) is
moved away only then. A failed or interrupted run leaves the target as it was; its staging
folder keeps only a manifest that says what happened. A killed run leaves its staging
folder (manifest "running", with the process id); the next run into the same target
removes it (a marker file says that it is ours; an empty one, left by a run killed
between making and marking it, is removed too). A commit killed after moving an old run
aside (``.NAME.old-PID``) and before moving the new one in: the next run puts the old one
back first (:func:`recover_leftovers`); one killed while removing the old run leaves a
folder still recognised by its manifest, which goes last (:func:`remove_run`), and the
next run removes it.

The target is used only if it is absent, an empty folder, or a run directory written by
this package (recognised by its manifest, :func:`own_run_status`) and ``--overwrite`` was
given; anything else is refused before any work. Imports no NEST.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .rundir import MANIFEST, PARAMS_FILE, SCHEMA, RunDirError, atomic_write_text, write_manifest

STAGING_MARK = ".balanced-staging"  # inside a staging folder: it was made by balanced


class OutputError(RunDirError):
    """The output folder cannot be used; refused before any work (the user's input)."""


def staging_path(target: Path) -> Path:
    """Where the run into ``target`` is written until it is complete (the same for every rank)."""
    return target.parent / f".{target.name}.staging"


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def own_run_status(folder: Path) -> str | None:
    """The status of the run directory ``folder`` if this package wrote it, else None.

    Recognised by its manifest: a JSON object with this package's schema number, a
    ``status`` and the package's version under ``versions``.
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("versions"), dict):
        return None
    if manifest.get("schema") not in (1, SCHEMA) or "balanced" not in manifest["versions"]:
        return None
    status = manifest.get("status")
    return status if isinstance(status, str) else None


def _os_error(path: Path, exc: OSError, what: str) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    return OutputError(f"--out {path}: {what} ({reason})")


def folder_entries(out: Path, purpose: str) -> list[str]:
    """The names in the output folder ``out``, sorted ([] if it does not exist). Raises
    :class:`OutputError` if it is not a folder or cannot be read (``purpose``: what it is
    for, "the run", for the message)."""
    if not out.exists() and not out.is_symlink():
        return []
    if not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder; choose a folder for {purpose}")
    try:
        return sorted(os.listdir(out))
    except OSError as exc:
        raise _os_error(out, exc, "cannot be read") from exc


def some_names(entries: list[str]) -> str:
    """The first three of ``entries`` for a message ("a, b, c, ...")."""
    return ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")


def check_target(target: Path, overwrite: bool) -> bool:
    """Whether ``target`` holds something to replace (True) or is absent/empty (False).

    Raises :class:`OutputError` for a file, an unreadable folder, a folder that is not a
    run of this package, or a run when ``overwrite`` is False.
    """
    if len(target.name.encode()) > 255:
        raise OutputError(f"--out {target}: the folder name is longer than 255 bytes")
    if not target.exists() and not target.is_symlink():
        return False
    entries = folder_entries(target, "the run")
    if not entries:
        return True
    status = own_run_status(target)
    if status is None:
        raise OutputError(
            f"--out {target}: exists and is not a run directory of balanced "
            f"({len(entries)} entries); it is never overwritten: choose another --out"
        )
    if not overwrite:
        raise OutputError(
            f"{target} already holds a run (status {status!r}); pass --overwrite to replace it, or choose another --out"
        )
    return True


EXPERIMENT_MARK = ".balanced-experiment"  # in an experiment's --out: which experiment made it


def claim_experiment_folder(out: Path, experiment: str, result_file: str) -> None:
    """Make ``out`` the folder of ``experiment`` (``balanced experiment NAME``, ``perturb``),
    or check that it already is: absent or empty (then marked as the experiment's, with
    :data:`EXPERIMENT_MARK`), or marked as that experiment's, or holding its
    ``result_file`` (a folder from before the mark). Raises :class:`OutputError` for
    anything else, before any work: an experiment never writes among files not its own."""
    entries = folder_entries(out, "the experiment")
    try:
        owner = json.loads((out / EXPERIMENT_MARK).read_text()).get("experiment")
    except (OSError, ValueError, AttributeError):
        owner = None
    if owner not in (None, experiment):
        raise OutputError(f"--out {out}: holds a {owner!r} experiment; choose another --out for {experiment!r}")
    theirs = [e for e in entries if EXPERIMENT_MARK not in e]  # the mark and its temporary file are ours
    if theirs and owner is None and result_file not in entries:
        raise OutputError(
            f"--out {out}: holds files that are not a {experiment!r} experiment's ({some_names(theirs)}); "
            "an experiment writes only into a new or empty folder, or its own: choose another --out"
        )
    if owner is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / EXPERIMENT_MARK, json.dumps({"experiment": experiment}) + "\n")
        except OSError as exc:
            raise _os_error(out, exc, "cannot be written") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def recover_leftovers(target: Path, kinds: tuple[str, ...], is_ours: Callable[[Path], bool] = lambda p: True) -> None:
    """Clean up after a killed process of this package: its ``.NAME.KIND-PID`` folders
    beside ``target`` (``KIND`` in ``kinds``; only those whose process is gone and that
    ``is_ours``). An ``old`` one is the previous ``target``, moved aside by a commit killed
    before the new one was in place: it is put back if ``target`` is absent; every other
    one is removed."""
    prefixes = [f".{target.name}.{kind}-" for kind in kinds]
    try:
        names = sorted(os.listdir(target.parent))
    except OSError:
        return
    dead = []
    for name in names:
        pid = next((name[len(p) :] for p in prefixes if name.startswith(p)), "")
        path = target.parent / name
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if path.is_dir() and not path.is_symlink() and is_ours(path):
                dead.append(path)
    olds = [p for p in dead if p.name.startswith(f".{target.name}.old-") and not _is_empty_folder(p)]
    if olds and not target.exists() and not target.is_symlink():
        os.rename(olds[-1], target)
        dead.remove(olds[-1])
    for path in dead:
        shutil.rmtree(path, ignore_errors=True)


def _is_empty_folder(path: Path) -> bool:
    try:
        return not path.is_symlink() and path.is_dir() and not os.listdir(path)
    except OSError:
        return False


def remove_run(folder: Path) -> None:
    """Remove the run directory ``folder``, its manifest last: a removal killed half-way
    leaves a folder that is still recognised as a run of ours (or an empty one)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    try:
        for entry in entries:
            if entry.name != MANIFEST:
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        (folder / MANIFEST).unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass  # what could not be removed stays, as with shutil.rmtree(ignore_errors=True)


class Lock:
    """An exclusive, non-blocking lock on ``path`` (a lock file, removed on release)."""

    def __init__(self, path: Path, what: str):
        self.path = path
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise OutputError(f"--out {what}: cannot create files in {path.parent} ({reason})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise OutputError(
                    f"{what} is in use: another balanced run ({holder}) is writing it; "
                    "wait for it or choose another --out"
                ) from None
            # a holder that released and removed the file meanwhile: lock the new file instead
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd: int | None = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
        except OSError:
            pass  # the note is for people; the lock holds without it

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


class RunTransaction:
    """Write a run into ``target`` as a transaction (see the module docstring).

    The first rank calls :meth:`begin` (checks, lock, a fresh staging folder), then
    :meth:`commit` or :meth:`abort`; every rank writes into :attr:`staging`.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False):
        self.target = Path(target)
        self.staging = staging_path(self.target)
        self.overwrite = overwrite
        self._lock: Lock | None = None

    def begin(self) -> Path:
        target = self.target
        check_target(target, self.overwrite)  # before creating anything, for a clear refusal
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(target.parent, exc, "its parent folder cannot be created") from exc
        self._lock = Lock(lock_path(target), str(target))
        try:
            # a run of ours moved aside by a commit killed between or after its renames
            recover_leftovers(target, ("old",), lambda p: own_run_status(p) is not None or _is_empty_folder(p))
            check_target(target, self.overwrite)  # again, under the lock
            if self.staging.exists() or self.staging.is_symlink():
                if (self.staging / STAGING_MARK).is_file():
                    shutil.rmtree(self.staging)  # left by a killed run into the same target
                elif _is_empty_folder(self.staging):
                    self.staging.rmdir()  # a run killed between making it and marking it
                else:
                    raise OutputError(
                        f"{self.staging}: exists and was not made by balanced; remove it or choose another --out"
                    )
            self.staging.mkdir()
            (self.staging / STAGING_MARK).write_bytes(b"")
        except OSError as exc:
            self.abort()
            raise _os_error(self.staging, exc, "cannot be written") from exc
        except BaseException:
            self.abort()
            raise
        return self.staging

    def commit(self) -> None:
        """Put the staged run in place of the target (an old run is moved away only now)."""
        target, old = self.target, None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
        try:
            os.rename(self.staging, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)
            raise
        # the mark goes only after the rename: a staging folder is never left unmarked and full
        (target / STAGING_MARK).unlink(missing_ok=True)
        if old is not None:
            remove_run(old)
        self._release()

    def abort(self, manifest: dict | None = None) -> None:
        """End without touching the target, and release the lock.

        With ``manifest`` (saying failed or interrupted), the staging folder keeps only that
        manifest and the parameters, so that what happened can be read there; without, or
        when even that cannot be written (a full disk), the staging folder is removed.
        """
        if (self.staging / STAGING_MARK).is_file():
            kept = False
            if manifest is not None:
                try:
                    for entry in os.scandir(self.staging):
                        if entry.name not in (MANIFEST, PARAMS_FILE, STAGING_MARK):
                            path = Path(entry.path)
                            shutil.rmtree(path) if entry.is_dir(follow_symlinks=False) else path.unlink()
                    write_manifest(self.staging, manifest)
                    kept = True
                except OSError:
                    pass
            if not kept:
                shutil.rmtree(self.staging, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def replace_folder(target: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Fill a fresh sibling folder with ``write(folder)``, then rename it onto ``target``.

    Readers see the old folder or the new one, never a mix. The old folder is removed
    afterwards. On an error nothing of the new folder is left behind.
    Raises :class:`RunDirError` naming the path when the file system refuses.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise RunDirError(f"{target}: exists and is not a folder; remove it to write the analysis there")
    host = os.uname().nodename  # in the names: a process id says nothing about another node's
    staging = target.parent / f".{target.name}.staging-{host}-{os.getpid()}"
    old = target.parent / f".{target.name}.old-{host}-{os.getpid()}"
    recover_leftovers(target, (f"staging-{host}", f"old-{host}"))  # of a killed process on this host
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write(staging)
        if target.exists():
            os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            if old.exists():
                os.rename(old, target)
            raise
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        path = exc.filename or staging
        if exc.errno == errno.ENOSPC:
            raise RunDirError(f"{target}: no space left on the device; nothing was changed") from exc
        raise RunDirError(
            f"{path}: cannot be written ({exc.strerror or type(exc).__name__}); {target} was not changed"
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
