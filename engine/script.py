"""Small file steps sent to the node as one program, where the node has busybox and the engine is on its fast
path.

On a remote node every program started costs a round trip and, under emulation, 50-100 ms of start-up
(measured on the QEMU node: `rm -f` 86 ms, `busybox rm -f` 34 ms, a `busybox sh -c` of six such steps 44 ms).
NC did these steps as syscalls; the fast path sends a run of them as one `busybox sh -c SCRIPT sh ARGS...`.
SCRIPT is put together from the constant fragments below and `"${N}"` references only: paths and file
contents are its arguments, never spliced into its text. A checked step that fails ends the script with
exit status FIRST_STATUS + its index, so the engine raises for that step, as it would have run alone; the
steps after it have not run.

Where the node has no busybox fit for this (NodeIO.uses_busybox probes once a run), or off the fast path,
each step is the program it always was, one after the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CommandError

FIRST_STATUS = 10
MAX_STEPS = 240          # exit statuses stay below 256


@dataclass
class Step:
    fragment: str            # shell text with {0}, {1}... for its arguments
    args: list[str]
    commands: list[list[str]]   # the programs it runs, as they run inside the script (what faults can name)
    plain: object            # (io) -> None: the same step as the program(s) NodeIO runs without busybox
    checked: bool = True
    recover: object = None   # (io) -> None: what the engine does when this step fails; then the rest runs
    stdin: str | None = None   # the script's stdin, which this step reads (one step of a script at most)


def render(steps: list[Step]) -> tuple[str, list[str]]:
    """(SCRIPT, ARGS): each step's arguments become positional parameters, in order."""
    parts, args = [], []
    for index, step in enumerate(steps):
        refs = [f'"${{{len(args) + i + 1}}}"' for i in range(len(step.args))]
        args.extend(step.args)
        text = step.fragment.format(*refs)
        parts.append(f"{text} || exit {FIRST_STATUS + index}" if step.checked else text)
    if not steps[-1].checked:
        parts.append("exit 0")   # an unchecked last step's status is not the script's
    return "; ".join(parts), args


class NodeScript:
    """Steps collected, then run in order by `run()`; blivet-style: what will run can be read before it does."""

    def __init__(self, io):
        self.io = io
        self.steps: list[Step] = []

    def __len__(self) -> int:
        return len(self.steps)

    # the steps ----------------------------------------------------------------------------------------------
    def write(self, path: str, text: str, mode: int | None = None, recover=None, secret: bool = False) -> NodeScript:
        """The file's contents become `text`; with `mode`, chmodded after (NC's write, then chmod).
        `recover(io)`: what to do instead when it fails (then the steps after it run). `secret`: the text goes
        on the script's stdin, not among its arguments, which a node's process list shows (one per script)."""
        chmod = f" && chmod 0{mode:o} {{{0 if secret else 1}}}" if mode is not None else ""
        fragment = ("tee {0} >/dev/null" if secret else "printf %s {0} | tee {1} >/dev/null") + chmod
        commands = [["tee", path]] + ([["chmod", f"0{mode:o}", path]] if mode is not None else [])
        if secret and any(step.stdin is not None for step in self.steps):
            raise ValueError("a script has one stdin: one secret write each")

        def plain(io):
            if mode is None:
                io.write(path, text)
            else:
                io.write_with_mode(path, text, mode)
        self.steps.append(Step(fragment, [path] if secret else [text, path], commands, plain, recover=recover,
                               stdin=text if secret else None))
        return self

    def unlink(self, *paths: str, checked: bool = False, recover=None) -> NodeScript:
        """`rm -f`; unchecked unless asked (NodeIO.unlink ignores its status)."""
        if paths:
            refs = " ".join(f"{{{i}}}" for i in range(len(paths)))
            checked = checked or recover is not None
            self.steps.append(Step(f"rm -f {refs}", list(paths), [["rm", "-f", *paths]],
                                   lambda io: io.applet(["rm", "-f", *paths], check=checked), checked, recover))
        return self

    def chmod(self, mode: int, *paths: str) -> NodeScript:
        refs = " ".join(f"{{{i + 1}}}" for i in range(len(paths)))
        argv = ["chmod", f"0{mode:o}", *paths]
        self.steps.append(Step(f"chmod {{0}} {refs}", [f"0{mode:o}", *paths], [argv],
                               lambda io: io.chmod(mode, *paths)))
        return self

    def mkdirs(self, path: str) -> NodeScript:
        argv = ["mkdir", "-p", path]
        self.steps.append(Step("mkdir -p {0}", [path], [argv], lambda io: io.mkdirs(path)))
        return self

    def chown(self, owner: str, path: str) -> NodeScript:
        argv = ["chown", owner, path]
        self.steps.append(Step("chown {0} {1}", [owner, path], [argv], lambda io: io.quiet(argv)))
        return self

    def symlink(self, target: str, link: str) -> NodeScript:
        """`ln -sfn`: the link made, or remade, to point at `target`."""
        argv = ["ln", "-sfn", target, link]
        self.steps.append(Step("ln -sfn {0} {1}", [target, link], [argv], lambda io: io.symlink(target, link)))
        return self

    def truncate(self, path: str, size: int) -> NodeScript:
        argv = ["truncate", "-s", str(size), path]
        self.steps.append(Step("truncate -s {0} {1}", [str(size), path], [argv],
                               lambda io: io.make_sparse(path, size)))
        return self

    # running -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        steps, self.steps = self.steps, []
        if not self.io.uses_busybox():
            for step in steps:
                _plain(self.io, step)
            return
        for start in range(0, len(steps), MAX_STEPS):
            self._run_batch(steps[start:start + MAX_STEPS])

    def _run_batch(self, batch: list[Step]) -> None:
        io = self.io
        script, args = render(batch)
        issued = [" ".join(argv) for step in batch for argv in step.commands]
        stdin = next((step.stdin for step in batch if step.stdin is not None), None)
        result = io.run_busybox(["sh", "-c", script, "sh", *args], stdin, issued)
        if result.rc == 0:
            return
        failed = result.rc - FIRST_STATUS
        if 0 <= failed < len(batch) and batch[failed].checked:
            step = batch[failed]
            if step.recover is None:
                raise CommandError(" ".join(_failing(step.commands, result.stderr)), 1, result.stderr)
            step.recover(io)
            rest = NodeScript(io)
            rest.steps = batch[failed + 1:]
            rest.run()
            return
        raise CommandError("busybox sh -c ... (" + "; ".join(issued) + ")", result.rc, result.stderr)


def _plain(io, step: Step) -> None:
    if step.recover is None:
        step.plain(io)
        return
    try:
        step.plain(io)
    except CommandError:
        step.recover(io)


def _failing(commands: list[list[str]], stderr: str) -> list[str]:
    """Which of a step's programs failed: the last one its error output names, else its first."""
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    for argv in reversed(commands):
        if last.startswith(argv[0] + ":"):
            return argv
    return commands[0]
