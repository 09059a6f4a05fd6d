"""engine/script.py: runs of small file steps as one `busybox sh -c`, and the same steps one program each where
the node has no busybox."""
from __future__ import annotations

import pytest
from engine_fixtures import recording_io

from engine.errors import CommandError
from engine.script import FIRST_STATUS, render
from simulator.faults import Fault

HOSTILE = ['/tmp/s/"; rm -rf ~ #', "/tmp/s/$(touch pwned)", "/tmp/s/`id`", "/tmp/s/$HOME-${PATH}", "/tmp/s/a b\tc",
           "/tmp/s/new\nline", "/tmp/s/-rf", "/tmp/s/'quoted'"]


def _io(dialect: str = "debian12", fast: bool = True, probed: bool = True):
    """`probed`: the once-a-run busybox probe already made (and not among `sent`)."""
    io, host, sent = recording_io(dialect, fast)
    host.node.run(["mkdir", "-p", "/tmp/s"])
    if probed:
        io.uses_busybox()
        sent.clear()
    return io, host, sent


def test_paths_and_contents_are_arguments_never_script_text():
    io, host, sent = _io()
    script = io.script()
    for i, path in enumerate(HOSTILE):
        script.write(path, f"content {i} with $HOME and `id` and \"quotes\"\n", 0o660)
    script.run()
    assert len(sent) == 1 and sent[0][:3] == ["busybox", "sh", "-c"]
    text = sent[0][3]
    for path in HOSTILE:
        assert path not in text and path.rsplit("/", 1)[1] not in text
    assert all(ch not in text.replace('"${', "").replace('}"', "") for ch in "`'(")
    for i, path in enumerate(HOSTILE):   # each file has exactly the name and the bytes it was given
        assert host.node.run(["cat", path]).stdout == f"content {i} with $HOME and `id` and \"quotes\"\n"
        assert host.node.run(["stat", "-c", "%a", path]).stdout == "660\n"
    assert host.node.run(["test", "-e", "/root/pwned"]).rc == 1


def test_a_failing_step_raises_as_itself_and_the_steps_after_it_do_not_run():
    io, host, sent = _io()
    host.node.faults.add(Fault(r"^chmod 0660 /tmp/s/two$"))
    script = io.script().write("/tmp/s/one", "1", 0o660).write("/tmp/s/two", "2", 0o660).write("/tmp/s/three", "3")
    with pytest.raises(CommandError, match=r"'chmod 0660 /tmp/s/two' failed"):
        script.run()
    assert host.node.run(["cat", "/tmp/s/one", "/tmp/s/two"]).stdout == "12"
    assert host.node.run(["test", "-e", "/tmp/s/three"]).rc == 1


def test_a_step_with_a_recovery_recovers_and_the_rest_still_runs():
    io, host, sent = _io()
    host.node.faults.add(Fault(r"^rm -f /tmp/s/rec$"))
    host.node.run(["tee", "/tmp/s/rec"], "stale")
    recovered = []
    script = io.script().unlink("/tmp/s/rec", recover=lambda io_: recovered.append(io_.write("/tmp/s/rec", "")))
    script.write("/tmp/s/after", "ran")
    script.run()
    assert recovered and host.node.run(["cat", "/tmp/s/rec"]).stdout == ""
    assert host.node.run(["cat", "/tmp/s/after"]).stdout == "ran"


def test_unchecked_last_step_does_not_fail_the_script():
    io, host, sent = _io()
    host.node.faults.add(Fault(r"^rm -f /tmp/s/x$"))
    io.script().write("/tmp/s/y", "y").unlink("/tmp/s/x").run()   # NodeIO.unlink ignores rm's status too
    assert host.node.run(["cat", "/tmp/s/y"]).stdout == "y"


def test_without_busybox_the_same_steps_are_the_programs_they_always_were():
    fast_el6, _, sent_el6 = _io("el6", probed=False)
    compatible, _, sent_nc = _io(fast=False, probed=False)
    for io in (fast_el6, compatible):
        io.script().truncate("/tmp/s/blocks", 4096).write("/tmp/s/lock", "me", 0o660).chmod(0o660, "/tmp/s/blocks") \
            .unlink("/tmp/s/gone").run()
    assert [a[0] for a in sent_nc] == ["truncate", "tee", "chmod", "chmod", "rm"]
    assert [a[0] for a in sent_el6] == ["busybox", "truncate", "install", "chmod", "rm"]   # asked once, then none


def test_the_sweeps_see_each_step_as_its_program():
    io, host, sent = _io()
    io.script().write("/tmp/s/a", "x", 0o660).unlink("/tmp/s/b").run()
    assert io.recorder.issued[-3:] == ["tee /tmp/s/a", "chmod 0660 /tmp/s/a", "rm -f /tmp/s/b"]


def test_render_numbers_arguments_in_order_and_ends_each_checked_step_with_its_status():
    io, _, _ = _io()
    script = io.script().write("/p/a", "t", 0o600).unlink("/p/b", "/p/c")
    text, args = render(script.steps)
    assert args == ["t", "/p/a", "/p/b", "/p/c"]
    assert text == (f'printf %s "${{1}}" | tee "${{2}}" >/dev/null && chmod 0600 "${{2}}" || exit {FIRST_STATUS}; '
                    'rm -f "${3}" "${4}"; exit 0')


def test_a_local_host_reports_a_missing_program_as_a_shell_does():
    """The engine learns that a node has no busybox from status 127, whatever the transport."""
    from harness.backends.local import LocalHost
    result = LocalHost(check=False).run(["nc-harness-no-such-program", "x"])
    assert (result.rc, result.stderr) == (127, "nc-harness-no-such-program: command not found\n")


def test_a_secret_write_goes_on_stdin_and_never_among_the_arguments():
    io, host, sent = _io()
    script = io.script().mkdirs("/tmp/s/d").write("/tmp/s/d/k", "ssh-rsa SECRETKEY me", secret=True)
    script.chmod(0o600, "/tmp/s/d/k").run()
    assert len(sent) == 1 and not any("SECRETKEY" in word for word in sent[0])
    assert host.node.run(["cat", "/tmp/s/d/k"]).stdout == "ssh-rsa SECRETKEY me"
    with pytest.raises(ValueError):
        io.script().write("/tmp/s/a", "1", secret=True).write("/tmp/s/b", "2", secret=True)


def test_a_busybox_without_what_the_scripts_need_leaves_the_fast_path_to_coreutils():
    """An old or trimmed busybox (here one whose `stat -c` is not built in) is found out by the probe, once."""
    io, host, sent = _io(probed=False)
    from simulator.tools import busybox
    real_stat = busybox.APPLETS["stat"]
    busybox.APPLETS["stat"] = lambda node, argv, stdin: busybox.Result(1, "", "stat: invalid option -- 'c'\n")
    try:
        io.write_with_mode("/tmp/s/f", "x", 0o660)
        io.write_with_mode("/tmp/s/g", "y", 0o660)
    finally:
        busybox.APPLETS["stat"] = real_stat
    assert [a[0] for a in sent] == ["busybox", "install", "install"] and io.busybox is False
