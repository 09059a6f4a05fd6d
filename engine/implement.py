"""art_implement_tree: find or create every artifact depth-first, retrying while blobs are busy."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import EngineError

from .artifacts import Artifact
from .blobstore.blob import Blockblob, close_blob, delete_blob, open_blob
from .blobstore.locks import patiently
from .blobstore.store import BlobCode, BlobError, Blobstore, LockContention
from .creators import run_creator

FIND_TIMEOUT = 0.05
RETRY_SLEEP = 0.5
PREP_TIMEOUT = 2 * 3600.0


class ProvisionError(EngineError):
    pass


class BuildCancelled(EngineError):
    """The instance is being terminated: the build stops at its next safe point (NC: `cancelled instance
    startup`) and the launch rolls back what it made."""


def safe_point(ctx: BuildContext) -> None:
    """Between artifacts (and before a creator runs): where a terminate that came meanwhile stops the build."""
    if ctx.abort is not None and ctx.abort():
        raise BuildCancelled("cancelled instance startup")


@dataclass
class BuildContext:
    io: object
    work: Blobstore
    cache: Blobstore | None
    work_prefix: str
    images: object
    token: object
    inject_keys: bool = True
    created: list[tuple[Blobstore, str]] = field(default_factory=list)
    abort: object = None        # callable: true once the instance is being terminated (safe_point, downloads)


def work_id(ctx: BuildContext, art: Artifact) -> str:
    return f"{ctx.work_prefix}/{art.id}" if ctx.work_prefix else art.id


def find(ctx: BuildContext, art: Artifact) -> Blockblob:
    if art.may_be_cached and ctx.cache is not None:
        try:
            bb = open_blob(ctx.cache, art.id, sig=art.sig, timeout=FIND_TIMEOUT)
            art.is_in_cache = True
            return bb
        except BlobError as exc:
            if exc.code == BlobCode.SIGNATURE:
                ctx.io.log(f"signature mismatch on cached blob {art.id}")
                art.may_be_cached = False
            elif exc.code != BlobCode.NOENT:
                raise
    return open_blob(ctx.work, work_id(ctx, art), sig=art.sig, timeout=FIND_TIMEOUT)


def create(ctx: BuildContext, art: Artifact) -> Blockblob:
    if art.may_be_cached and ctx.cache is not None:
        try:
            bb = open_blob(ctx.cache, art.id, art.size_bytes, create=True, excl=True, sig=art.sig,
                           timeout=FIND_TIMEOUT)
            art.is_in_cache = True
            ctx.created.append((ctx.cache, art.id))
            return bb
        except BlobError as exc:
            if exc.code != BlobCode.NOSPC:
                raise
            ctx.io.log(f"cache is full, {art.id} goes to the work store")
    bb = open_blob(ctx.work, work_id(ctx, art), art.size_bytes, create=True, excl=True,
                   hollow=art.must_be_hollow, sig=art.sig, timeout=FIND_TIMEOUT)
    ctx.created.append((ctx.work, bb.id))
    return bb


def implement(ctx: BuildContext, art: Artifact, timeout: float = PREP_TIMEOUT) -> None:
    """On success art.bb is open (the sentinel has none); deps are always closed on return."""
    start = ctx.io.clock.now()
    while True:
        safe_point(ctx)
        try:
            _try(ctx, art, timeout)
            return
        except BlobError as exc:
            if exc.code not in (BlobCode.AGAIN, BlobCode.MFILE) or ctx.io.clock.now() - start >= timeout:
                raise ProvisionError(f"failed to provision artifact {art.id}: {exc}") from exc
            ctx.io.clock.sleep(RETRY_SLEEP)


def _try(ctx: BuildContext, art: Artifact, timeout: float) -> None:
    if art.creator is None:
        if _concurrent(ctx, art):
            failure = _first_failure(ctx.io.workers.run([_implement_and_close(ctx, d, timeout) for d in art.deps]))
            if failure is not None:
                raise failure
            return
        for dep in art.deps:
            implement(ctx, dep, timeout)
            _close(dep)
        return
    try:
        art.bb = find(ctx, art)
        return
    except BlobError as exc:
        if exc.code != BlobCode.NOENT:
            raise
    opened: list[Artifact] = []
    try:
        if _concurrent(ctx, art):
            outcomes = ctx.io.workers.run([lambda d=d: implement(ctx, d, timeout) for d in art.deps])
            opened.extend(d for d, (ok, _) in zip(art.deps, outcomes) if ok)
            failure = _first_failure(outcomes)
            if failure is not None:
                raise failure
        else:
            for dep in art.deps:
                implement(ctx, dep, timeout)
                opened.append(dep)
        dep = art.deps[0] if len(art.deps) == 1 else None
        if (art.creator == "copy" and dep is not None and dep.may_be_cached and not dep.is_in_cache
                and dep.id != art.id):
            art.bb = dep.bb   # the work-store base becomes this artifact: no copy needed
        else:
            safe_point(ctx)
            try:
                art.bb = create(ctx, art)
            except BlobError as exc:
                if exc.code == BlobCode.EXIST:
                    raise BlobError(BlobCode.AGAIN, str(exc)) from None
                raise
        try:
            run_creator(ctx, art)
        except Exception:
            _discard_made(ctx, art)
            raise
    except Exception:
        _close_inputs(opened, art)   # this failure is the one to raise
        raise
    failure = _close_inputs(opened, art)
    if failure is not None:
        # made, but an input could not be closed: the launch fails, and this artifact goes like any failed
        # creation (left open, its lock and loop would outlive the rollback)
        _discard_made(ctx, art)
        raise failure


def _concurrent(ctx: BuildContext, art: Artifact) -> bool:
    """Several inputs, none inside another (no artifact is an input twice in a tree), and workers to spare."""
    return ctx.io.workers.count > 1 and len(art.deps) > 1


def _implement_and_close(ctx: BuildContext, dep: Artifact, timeout: float):
    def task() -> None:
        implement(ctx, dep, timeout)
        _close(dep)
    return task


def _first_failure(outcomes: list) -> Exception | None:
    """The failure of the first input in the tree's order, as the one-at-a-time build would have met first
    (the others' artifacts are closed or discarded like any input's)."""
    return next((value for ok, value in outcomes if not ok), None)


def _discard_made(ctx: BuildContext, art: Artifact) -> None:
    bb, art.bb = art.bb, None
    if isinstance(bb, Blockblob):
        _discard(ctx, bb)


def _close_inputs(opened: list[Artifact], art: Artifact) -> Exception | None:
    """Close every dependency opened for `art` (one handed over to it by the bypass goes with it), all of them
    even when one fails; the first failure is returned."""
    failure = None
    for dep in opened:
        if dep.bb is art.bb:
            dep.bb = None   # handed over by the bypass above; closed with art
            continue
        try:
            _close(dep)
        except Exception as exc:  # noqa: BLE001 - the others must still be closed
            dep.bb = None
            failure = failure or exc
    return failure


def _discard(ctx: BuildContext, bb: Blockblob) -> None:
    try:
        # a failed artifact's devices and references go now, waiting out another operation's hold on the store:
        # left behind, its devices would keep a source's loop busy with nothing naming them
        patiently(ctx.io.clock, lambda: delete_blob(bb, force=False), LockContention)
        if (bb.store, bb.id) in ctx.created:
            ctx.created.remove((bb.store, bb.id))
    except Exception as exc:  # noqa: BLE001 - the caller's error matters more; cleanup finds leftovers
        ctx.io.log(f"potential deadlock: could not delete {bb.id}: {exc}")
        close_blob(bb)


def _close(art: Artifact) -> None:
    if isinstance(art.bb, Blockblob):
        close_blob(art.bb)
    art.bb = None
