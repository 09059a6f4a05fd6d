"""`<work>/imager.pid`: one imager per work directory, and a dead one's file taken over instead of blocking the
directory for good.

The file says `PID HOST RUN MADE`: the process (the pid of the run's lock-owner token: this process on a real
machine, the simulated node's own process id under the simulator, so a recording holds no harness pid), the
machine's name, the token of the run, and whether the run made the work directory (so the run that takes over
removes it at the end, as the dead one would have). A holder is alive when it is a run in progress in this
process, or a live process as the host answers (hostapi.Host.process_alive). A file written on another machine
cannot be judged from here and is refused, naming that machine; so is anything unreadable."""
from __future__ import annotations

import socket

from engine.errors import EngineError

LIVE_RUNS: set[str] = set()      # tokens of the runs in progress in this process
ENDED_RUNS: set[str] = set()     # ... and of those that ended here (finished, failed or killed at a crash point)


class PidFileBusy(EngineError):
    pass


def holder(text: str) -> tuple[int, str, str, bool] | None:
    fields = text.split()
    if len(fields) != 4 or not fields[0].isdigit() or fields[3] not in ("made", "found"):
        return None
    return int(fields[0]), fields[1], fields[2], fields[3] == "made"


def alive(host, pid: int, run: str) -> bool:
    """A run of this process is alive while in progress; any other holder, as the host answers for its pid."""
    if run in LIVE_RUNS:
        return True
    if run in ENDED_RUNS:
        return False
    return host.process_alive(pid)


def claim(io, pid_file: str, work_path: str, made_work: bool, run: str) -> tuple[bool, str | None]:
    """Write the file for this run (`run`: its lock table's token, what its blob locks name); returns whether
    the work directory counts as made by the imager (a dead holder's answer carries over) and the dead holder's
    token, if one was taken over. Raises PidFileBusy for a live or unjudgeable holder."""
    dead = None
    if io.exists(pid_file):
        found = holder(io.read(pid_file) or "")
        if found is None:
            raise PidFileBusy(f"{pid_file} exists and is not an imager's (remove it if no imager uses {work_path})")
        pid, host, other, made = found
        if host != socket.gethostname():
            raise PidFileBusy(f"{pid_file}: an imager on {host} (pid {pid}) uses {work_path}; remove the file if "
                              "none runs there")
        if alive(io.host, pid, other):
            raise PidFileBusy(f"{pid_file}: imager pid {pid} is using {work_path}")
        io.log(f"taking over {pid_file} from a dead imager (pid {pid})")
        made_work, dead = made, other
    LIVE_RUNS.add(run)
    pid = run.split(".", 1)[0]
    io.write(pid_file, f"{pid} {socket.gethostname()} {run} {'made' if made_work else 'found'}\n")
    return made_work, dead


def release(run: str) -> None:
    LIVE_RUNS.discard(run)
    ENDED_RUNS.add(run)
