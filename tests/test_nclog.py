"""Real nc.log files in, reproductions out (issue 21): each line-prefix generation and level built from the
sources' own format strings (util/log.c, storage/diskutil.c, blobstore.c, vbr.c), the three field samples, the
seed document, and the inferred world before an excerpt."""
from __future__ import annotations

import gzip
import os

from conftest import FIXTURES

from harness.backends.sim import SimHost
from harness.cli.main import main
from harness.nclog.extract import extract, select
from harness.nclog.records import is_log, read_logs, read_records
from harness.nclog.trace import commands
from harness.replay.complete import complete
from harness.replay.replayer import replay
from harness.replay.trace import parse_trace, read_text

LOGS = os.path.join(FIXTURES, "field-logs")
NC33 = os.path.join(LOGS, "nc33-debug-migration-destination.log")
NC44 = os.path.join(LOGS, "nc44-info-libvirt-timeout.log")
NC20 = os.path.join(LOGS, "nc20-debug-vrun.log")
SEED_DOC = os.path.join(FIXTURES, "seed-000", "seed-document.md")
W = "/var/lib/eucalyptus/instances/work/U1/i-12345678"


def _ops(text: str) -> list:
    return extract(read_records(text, "t.log")).operations


def test_bracketed_generation_vrun_unwrapped():
    text = ("[Wed Nov  2 18:32:12 2011][001660][EUCAINFO  ] vrun(): [//usr/lib/eucalyptus/euca_rootwrap "
            f"/sbin/losetup /dev/loop3 {W}/disk]\n"
            "[Wed Nov 2 18:32:12 2011][001660][EUCADEBUG3] state change for instance i-488B084F\n"
            "[Wed Nov 2 18:32:13 2011][001660][EUCADEBUG ] system_output(): [/opt/eucalyptus/usr/lib/eucalyptus/"
            f"euca_rootwrap /usr/lib/eucalyptus/euca_mountwrap mount {W}/disk /mnt/x]\n")
    recs = read_records(text, "t.log")
    assert [(r.time, r.level, r.thread) for r in recs] == [("2011-11-02 18:32:12", "INFO", "001660"),
                                                           ("2011-11-02 18:32:12", "DEBUG", "001660"),
                                                           ("2011-11-02 18:32:13", "DEBUG", "001660")]
    assert [o.command for o in _ops(text)] == [f"/sbin/losetup /dev/loop3 {W}/disk", f"mount {W}/disk /mnt/x"]


def test_dated_debug_prose_with_continuations_and_interleaved_threads():
    text = (f"2013-06-11 08:52:13 DEBUG 000018352 diskutil_loop            | attaching file {W}/a.blocks\n"
            "2013-06-11 08:52:13 DEBUG 000018446 statfs_path              | path '/x' resolved\n"
            "2013-06-11 08:52:13 DEBUG 000018352 diskutil_loop            |             to /dev/loop0 at offset 512\n"
            f"2013-06-11 08:52:13  INFO 000018352 diskutil_dd2             | copying data from '{W}/a.blocks'\n"
            f"2013-06-11 08:52:13  INFO 000018352 diskutil_dd2             |                to '{W}/b.blocks'\n"
            "2013-06-11 08:52:13  INFO 000018352 diskutil_dd2             |                of 8 blocks (bs=16), "
            "seeking 2, skipping 1\n"
            f"2013-06-11 08:52:14 DEBUG 000018352 diskutil_ch              | ch(own|mod) '{W}/b.blocks' "
            "eucalyptus.root 664\n"
            "2013-06-11 08:52:14 DEBUG 000018352 diskutil_unloop          | detaching from loop device /dev/loop0\n"
            f"2013-06-11 08:52:14  INFO 000018352 ensure_directories_exist | creating path {W}\n")
    assert [o.command for o in _ops(text)] == [
        f"/sbin/losetup -o 512 /dev/loop0 {W}/a.blocks",
        f"/bin/dd if={W}/a.blocks of={W}/b.blocks bs=16 count=8 seek=2 skip=1 conv=notrunc,fsync",
        f"chown eucalyptus {W}/b.blocks", f"chown :root {W}/b.blocks", f"chmod 0664 {W}/b.blocks",
        "/sbin/losetup -d /dev/loop0", f"mkdir -p {W}"]


def test_early_pid_tid_form_extreme_file_line_and_correlation_ids():
    text = ("2012-03-01 10:00:00 DEBUG 004242:004243 | detaching from loop device /dev/loop7\n"
            "2016-05-01 10:00:00 EXTRE 000000077 diskutil_unloop          diskutil.c:740                    | "
            "detaching from loop device /dev/loop8\n"
            "2017-08-10 10:04:35  INFO | [0a26cd99-1db3] [i-063baed0] removing device euca-x-i-063baed0-emi-1\n")
    recs = read_records(text, "t.log")
    assert [r.thread for r in recs] == ["004242:004243", "000000077", ""]
    assert recs[1].function == "diskutil_unloop" and recs[1].level == "EXTREME"
    assert (recs[2].correlation, recs[2].instance) == ("0a26cd99-1db3", "i-063baed0")
    assert [o.command for o in _ops(text)] == ["/sbin/losetup -d /dev/loop7", "/sbin/losetup -d /dev/loop8",
                                               "dmsetup remove euca-x-i-063baed0-emi-1"]


def test_a_trace_line_cut_at_255_characters_is_flagged_and_completed():
    path = f"{W}/emi-904B38A6-a76b7851-" + "x" * 200 + ".blocks"
    cmd = f"/usr/lib/eucalyptus/euca_rootwrap '/sbin/losetup' -o '0' '/dev/loop1' '{path}'"
    logged = cmd[:255]       # what `char cmd[256]` holds
    text = (f"2013-06-11 08:52:16 TRACE 000018352 execlp_output            | executing: {logged}\n"
            f"2013-06-11 08:52:16 DEBUG 000018352 diskutil_loop            | attaching file {path}\n"
            "2013-06-11 08:52:16 DEBUG 000018352 diskutil_loop            |             to /dev/loop1 at offset 0\n")
    ops = _ops(text)
    assert ops[0].command == f"/sbin/losetup -o 0 /dev/loop1 {path}"
    assert "cut in the log" in ops[0].note


def test_bad_return_code_is_a_command_expected_to_fail():
    text = ("2013-06-11 08:52:16 ERROR 000018352 pruntf                   | bad return code from cmd "
            "'/usr/lib/eucalyptus/euca_rootwrap /sbin/tune2fs /dev/mapper/nothing -c 0 -i 0 2>&1'\n"
            "2013-06-11 08:52:16 DEBUG 000018352 pruntf                   | tune2fs 1.41.12 (17-May-2010)\n"
            "tune2fs: No such file or directory while trying to open /dev/mapper/nothing\n")
    (op,) = _ops(text)
    assert (op.command, op.expect_fail) == ("/sbin/tune2fs /dev/mapper/nothing -c 0 -i 0", True)
    cmds, _ = commands(extract(read_records(text, "t.log")))
    outcome = replay(SimHost(dialect="el6"), cmds)
    assert outcome.failures == []     # it fails on the node too, as the log says


def test_grep_output_gzip_and_rotation(tmp_path):
    lines = open(NC33).read().splitlines()
    (tmp_path / "nc.log.1.gz").write_bytes(gzip.compress(("\n".join(lines[:100]) + "\n").encode()))
    (tmp_path / "nc.log").write_text("\n".join(lines[100:]) + "\n")
    rotated = read_logs([str(tmp_path / "nc.log"), str(tmp_path / "nc.log.1.gz")])
    assert [r.message for r in rotated] == [r.message for r in read_logs([NC33])]
    grepped = "".join(f"nc.log:{n}:{line}\n" for n, line in enumerate(lines, 1) if "i-3624467F" in line)
    assert is_log(grepped)
    recs = read_records(grepped, "grep")
    assert recs[0].origin == "nc.log:4" and all("i-3624467F" in r.instance + r.text for r in recs)


def test_select_by_instance_and_time():
    recs = read_logs([NC44])
    chosen = select(recs, instance="i-895daffb")
    assert len(chosen) == 4 and all(r.instance == "i-895daffb" or "'i-895daffb'" in r.text for r in chosen)
    assert all("10:04:43" <= r.clock <= "10:04:43" for r in select(recs, since="10:04:43", until="10:04:43"))


def test_nc33_debug_log_replays_with_its_world_inferred():
    """The migration destination's loop attaches, copies (block size and count as logged), detaches,
    ownership and mode changes and directories, in the logged order; `--complete` makes it run on el6."""
    found = extract(read_logs([NC33]))
    cmds, notes = commands(found)
    texts = [c.text for c in cmds]
    assert texts.count("/sbin/losetup -d /dev/loop0") == 5 and any("bs=16 count=252855" in t for t in texts)
    assert any("bs=4 count=1512259" in t for t in texts)
    assert texts.index([t for t in texts if "eki-EFDB3939-04813333.blocks" in t and "losetup" in t][0]) < \
        texts.index([t for t in texts if "bs=16" in t][0])
    done = complete(cmds, {"dsk-904B38A6-f60db8a9": 5368741376})
    host = SimHost(dialect="el6")
    outcome = replay(host, done.commands)
    assert outcome.failures == []
    attaches = [c for c in cmds if c.text.startswith("/sbin/losetup -o")]
    assert len(attaches) == 11   # each where the log says: a busy /dev/loopN would have failed its attach


def test_nc20_vrun_log_names_its_helpers_and_replays_its_cp(capsys):
    assert main(["replay", NC20, "--complete"]) == 0
    err = capsys.readouterr().err
    for helper in ("partition2disk", "add_key.pl", "gen_kvm_libvirt_xml"):
        assert f"helper program '{helper}' is not modelled" in err


def test_nc44_info_log_becomes_a_scenario_that_runs(tmp_path, capsys):
    out = tmp_path / "nc44.yaml"
    assert main(["log", "scenario", NC44, "-o", str(out)]) == 0
    text = out.read_text()
    assert "not expressed:" in text and "creating partition" not in text.split("steps:")[1]
    assert "ephemeral0:none:1073741824:ext3" in text
    assert main(["run", str(out)]) == 0, capsys.readouterr()


def test_the_seed_document_whole_replays_to_the_seed_state(capsys):
    assert main(["replay", SEED_DOC, "--complete", "--dialect", "el6", "--then", "losetup -a",
                 "--then", "dmsetup table"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if line.startswith("/dev/loop")]) == 11
    assert len([line for line in out if line.startswith("euca-")]) == 37


def test_a_listing_the_document_shows_is_checked(tmp_path, capsys):
    text = open(SEED_DOC).read().replace("253:18 0", "253:99 0")
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    assert main(["replay", str(doc), "--complete", "--dialect", "el6"]) == 1
    assert "'# dmsetup table | sort': missing line" in capsys.readouterr().err


def test_log_compare_names_a_planted_divergence(tmp_path, capsys):
    trace = tmp_path / "t.log"
    assert main(["log", "trace", NC33, "-o", str(trace)]) == 0
    assert main(["log", "compare", NC33, str(trace)]) == 0
    trace.write_text(trace.read_text().replace("bs=16 count=252855", "bs=4096 count=988"))
    capsys.readouterr()
    assert main(["log", "compare", NC33, str(trace)]) == 1
    line = capsys.readouterr().out
    assert line.startswith("nc-harness log compare: different operation: field ") and "bs=16" in line
    assert f"engine {trace}:" in line and "bs=4096" in line


def test_a_file_that_is_neither_says_which_formats_were_tried(tmp_path, capsys):
    bad = tmp_path / "x.txt"
    bad.write_text("look (here)\n")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an nc.log" in err and "document" in err


def test_log_trace_written_file_replays_as_it_stands(tmp_path):
    out = tmp_path / "t.log"
    assert main(["log", "trace", NC33, "--complete", "-o", str(out)]) == 0
    cmds = parse_trace(read_text(str(out)), str(out))
    assert any(c.inferred for c in cmds) and all(c.origin for c in cmds)
    assert replay(SimHost(dialect="el6"), cmds).failures == []


def test_a_domain_the_hypervisor_reports_shut_down_is_a_kill_domain_step(tmp_path, capsys):
    log = tmp_path / "nc.log"
    log.write_text(
        "2017-08-10 10:00:00  INFO | [i-0000abcd] creating partition of size 1048576 bytes and type ext3 in "
        "prt-00001ext3-37f7dd1f\n"
        "2017-08-10 10:00:01  INFO | [i-0000abcd] copying/cloning blob emi-12345678-aaaaaaaa to blob "
        "USERX/i-0000abcd/emi-12345678-bbbbbbbb\n"
        "2017-08-10 10:01:00  INFO | [i-0000abcd] hypervisor reported previously running domain as Shutdown\n"
        "2017-08-10 10:01:05  INFO | [i-0000abcd] cleaning up state for instance\n")
    out = tmp_path / "s.yaml"
    assert main(["log", "scenario", str(log), "-o", str(out)]) == 0
    import yaml
    doc = yaml.safe_load(out.read_text())
    assert [next(iter(s)) for s in doc["steps"]] == ["run_instance", "start_domain", "kill_domain",
                                                     "terminate_instance", "check_invariants"]
    assert doc["node"]["hypervisor"] == {} and doc["steps"][0]["run_instance"]["user"] == "USERX"
    assert main(["run", str(out)]) == 0, capsys.readouterr()


def test_debug_44_logs_each_exec_twice_and_it_runs_once():
    """4.x's exec helper logs `child process N executing: ...` beside diskutil's prose for the same work; a
    dm table handed over in /tmp/dmsetup.XXXXXX is not in the log (the device is stood in for where used)."""
    path = os.path.join(LOGS, "synthetic-nc44-debug-execvp.log")
    cmds, notes = commands(extract(read_logs([path])))
    assert [c.text for c in cmds] == [
        "/sbin/losetup -o 0 /dev/loop0 /var/lib/eucalyptus/instances/work/U/i-1/a.blocks",
        "/sbin/dmsetup remove euca-U-i-1-emi-11111111-aaaaaaaa", "/sbin/losetup -d /dev/loop0"]
    assert any("its table is not in the log: not replayed" in n for n in notes)
    assert replay(SimHost(dialect="el6"), complete(cmds).commands).failures == []


def test_partition_maps_size_the_files_behind_their_loops():
    """`mapping partition 2 from /dev/loop0 [1073215-9437246]`: the file attached to loop0 holds those sectors."""
    from harness.replay.sources import load
    hints = load([NC33]).hints
    work = "/disk1/storage/eucalyptus/instances/work/4DK9MZTO9LZYIRK8BKSS4/i-3624467F"
    assert hints[f"{work}/prt-04084ext3-e6c8efd7.blocks"] == (9437246 - 1073215 + 1) * 512
    assert hints[f"{work}/emi-904B38A6-a76b7851.blocks"] == (1073214 - 63 + 1) * 512


def test_30_messages_carry_their_pthread_and_level_word():
    """3.0-3.1's diskutil: `{%u} attaching file %s` / `{%u}             to %s at offset %lld`, and
    `{%u} error: bad return code from cmd '%s'` (storage/diskutil.c of that release)."""
    text = ("[Tue Mar  6 10:00:00 2012][004242][EUCADEBUG ] {1076873536} attaching file /w/i-1/a.blocks\n"
            "[Tue Mar  6 10:00:00 2012][004242][EUCADEBUG ] {1095753024} detaching from loop device /dev/loop5\n"
            "[Tue Mar  6 10:00:00 2012][004242][EUCADEBUG ] {1076873536}             to /dev/loop2 at offset 0\n"
            "[Tue Mar  6 10:00:01 2012][004242][EUCAERROR ] {1076873536} error: bad return code from cmd "
            "'/usr/lib/eucalyptus/euca_rootwrap /sbin/mkswap /dev/loop2 1024 2>&1'\n")
    assert [(o.command, o.expect_fail) for o in _ops(text)] == [
        ("/sbin/losetup -o 0 /dev/loop2 /w/i-1/a.blocks", False), ("/sbin/losetup -d /dev/loop5", False),
        ("/sbin/mkswap /dev/loop2 1024", True)]


def test_replay_reads_a_rotated_set_in_any_order(tmp_path, capsys):
    lines = open(NC33).read().splitlines(keepends=True)
    (tmp_path / "nc.log.1.gz").write_bytes(gzip.compress("".join(lines[:100]).encode()))
    (tmp_path / "nc.log").write_text("".join(lines[100:]))
    assert main(["replay", str(tmp_path / "nc.log"), str(tmp_path / "nc.log.1.gz"), "--complete",
                 "--dialect", "el6"]) == 0
    assert "195 records" in capsys.readouterr().err


def test_grep_n_of_one_file_keeps_the_logs_line_numbers():
    text = "".join(f"{n}:{line}\n" for n, line in enumerate(open(NC33).read().splitlines(), 1) if "loop1" in line)
    recs = read_records(text, "excerpt")
    assert recs[0].origin == "excerpt:90" and "to /dev/loop1" in recs[0].text


def test_a_debug_log_scenario_takes_its_partitions_and_sizes_from_the_artifacts(tmp_path, capsys):
    out = tmp_path / "nc33.yaml"
    assert main(["log", "scenario", NC33, "-o", str(out)]) == 0
    import yaml
    doc = yaml.safe_load(out.read_text())
    assert doc["steps"][0]["run_instance"]["vbrs"][3:] == ["ephemeral0:none:4282384384:ext3:sda2:none",
                                                          "swap:none:536870912:swap:sda3:none"]
    assert {i["id"]: i["size"] for i in doc["images"]}["emi-904B38A6"] == 549453824
    assert main(["run", str(out)]) == 0, capsys.readouterr()
