"""The attacks a node must refuse (issue 7, section 4): shell metacharacters through ids, paths out of their
directory, unbounded sizes, credentials in what we write, and modes that let other users in. Key injection
through hostile symlinks is in test_engine_units.py (`test_key_injection_never_writes_outside_the_guest`)."""
import io
import os
import re
import subprocess
import tarfile

import pytest
from conftest import ROOT
from engine_fixtures import USER, Node, vbrs

from engine.bundling import BundleTaskError, InstanceBundler
from engine.errors import EngineError
from engine.images.tarstream import TarMemberReader
from engine.vbr import VbrError, parse_ascii, validate
from harness.backends.sim import SimHost
from harness.backends.ssh import remote_line
from harness.cli.main import main
from harness.scenario import load
from harness.scenario.runner import run_scenario

NASTY = ["i-1;touch /tmp/pwned", "i-$(touch /tmp/pwned)", "i-`id`", "i-1|cat", "i-1&&x", "i-1>x", "i 1",
         "i-1\nrm", "../../etc", "i-1'", 'i-1"', "i-*", "i-1\\", "-rf", "i-é1"]


class RecordingHost(SimHost):
    """The simulator, keeping every argv it was asked to run."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.argvs = []

    def run(self, argv, stdin=None):
        self.argvs.append(list(argv))
        return super().run(argv, stdin)


@pytest.mark.parametrize("name", ["termination-cleanup", "bundle-instance", "e13-restart-dead-instances"])
def test_the_engine_never_hands_a_line_to_a_shell(name):
    path = os.path.join(ROOT, "scenarios", *(["regressions"] if name.startswith("e1") else []), f"{name}.yaml")
    sc = load(path)
    host = RecordingHost(dialect=sc.dialect, seed=sc.seed)
    assert run_scenario(sc, host=host).ok
    shells = [a for a in host.argvs if os.path.basename(a[0]) in ("sh", "bash", "dash")]
    assert shells == []
    assert len(host.argvs) > 100


@pytest.mark.parametrize("name", ["termination-cleanup", "bundle-instance", "e13-restart-dead-instances"])
def test_on_the_fast_path_the_only_shell_is_busybox_with_constant_scripts(name):
    """Where the node has busybox, the fast path sends runs of file steps as `busybox sh -c SCRIPT sh ARGS`:
    every script is made of fixed fragments and "${N}" references, with no id, path or content in its text."""
    path = os.path.join(ROOT, "scenarios", *(["regressions"] if name.startswith("e1") else []), f"{name}.yaml")
    sc = load(path)
    sc.fast_path()
    host = RecordingHost(dialect=sc.dialect, seed=sc.seed)
    assert run_scenario(sc, host=host).ok
    assert [a for a in host.argvs if os.path.basename(a[0]) in ("sh", "bash", "dash")] == []
    scripts = [a for a in host.argvs if a[:3] == ["busybox", "sh", "-c"]]
    assert len(scripts) > 20
    for argv in scripts:
        text = argv[3]
        without_refs = re.sub(r'"\$\{\d+\}"', "", text)
        assert "$" not in without_refs and "`" not in text and "'" not in text, text
        assert not re.search(r"/(var|tmp|dev/mapper)|euca-|i-[0-9A-F]|AIDA", without_refs), text
        assert argv[4] == "sh"


@pytest.mark.parametrize("bad", NASTY)
def test_shell_metacharacters_in_any_id_are_refused_before_anything_runs(bad):
    node = Node()
    before = node.sh("find /var/lib/eucalyptus /tmp")
    with pytest.raises(EngineError):
        node.nc.run_instance(bad, USER, vbrs(node.images))
    with pytest.raises(EngineError):
        node.nc.run_instance("i-00000001", bad, vbrs(node.images))
    with pytest.raises(VbrError):
        validate(parse_ascii(f"machine:{bad}:-1:none:sda1:http://example.invalid/x"))
    assert node.sh("find /var/lib/eucalyptus /tmp") == before
    assert node.sh("losetup -a") == ""


@pytest.mark.parametrize("bad", NASTY)
def test_bundle_bucket_and_prefix_with_metacharacters_are_refused(bad):
    node = Node()
    node.run("i-B")
    bundler = InstanceBundler(node.nc, store=None, spec=None)
    for bucket, prefix in ((bad, "ok-prefix"), ("ok-bucket", bad)):
        with pytest.raises(BundleTaskError, match="InvalidParameterValue"):
            bundler.bundle_instance("i-B", bucket, prefix, wait=True)
    assert bundler.tasks == {}


@pytest.mark.parametrize("word", NASTY + ["$HOME", "a b\tc", "", "'\"'", "; reboot #"])
def test_a_remote_node_gets_every_argv_word_and_stdin_byte_as_sent(word):
    """The SSH backend's line, parsed by a real bash: each word arrives whole, and nothing runs."""
    argv = ["printf", "%s\\0", word, f"x{word}y"]
    stdin = f"stdin with {word}\n\x01\xff"
    line = remote_line(["cat"], stdin)
    out = subprocess.run(["bash", "-c", remote_line(argv)], capture_output=True, cwd="/tmp")
    assert out.returncode == 0
    assert out.stdout.split(b"\0")[:-1] == [word.encode(), f"x{word}y".encode()]
    back = subprocess.run(["bash", "-c", line], capture_output=True, cwd="/tmp")
    assert back.stdout == stdin.encode("utf-8", "surrogateescape")
    assert not os.path.exists("/tmp/pwned")


@pytest.mark.parametrize("member", ["../../escape", "/etc/passwd", "a/../../b", "x" * 300])
def test_a_tar_member_name_never_becomes_a_path(member):
    """The unbundler takes the first member's data and ignores its name (the manifest names the output)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(member)
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    reader = TarMemberReader()
    assert reader.feed(buf.getvalue()) == b"hello"


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.DIRTYPE])
def test_a_tar_member_that_is_not_a_regular_file_is_refused(kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("disk.img")
        info.type = kind
        info.linkname = "/etc/shadow"
        tar.addfile(info)
    with pytest.raises(ValueError, match="not a regular file"):
        TarMemberReader().feed(buf.getvalue())


def test_an_image_larger_than_its_manifest_stops_before_the_disk_fills(tmp_path, capsys):
    """A gzip bomb, or a manifest that lies: output stops at the manifest's size, and nothing is left."""
    keys = os.path.join(ROOT, "scenarios", "keys")
    image = tmp_path / "zeros.img"
    with open(image, "wb") as fh:
        fh.truncate(64 << 20)                      # 64 MiB of zeros compress to almost nothing
    out = tmp_path / "bundle"
    assert main(["image", "bundle", "-i", str(image), "-r", "x86_64", "-u", "123456789012",
                 "-c", f"{keys}/node-cert.pem", "-k", f"{keys}/node-pk.pem", "--ec2cert", f"{keys}/cloud-cert.pem",
                 "-d", str(out), "-p", "zeros.img"]) == 0
    manifest = out / "zeros.img.manifest.xml"
    manifest.write_text(manifest.read_text().replace(f"<size>{64 << 20}</size>", "<size>1048576</size>"))
    dest = tmp_path / "dest"
    dest.mkdir()
    capsys.readouterr()
    assert main(["image", "unbundle", "-m", str(manifest), "-s", str(out), "-d", str(dest),
                 "-k", f"{keys}/cloud-pk.pem"]) != 0
    assert "more than the manifest's 1048576 bytes" in capsys.readouterr().err
    assert os.listdir(dest) == []


def test_credentials_never_reach_a_trace_a_log_a_report_or_an_error(tmp_path, monkeypatch, capsys):
    secret = "SECRETSENTINELs3key0123456789abcdefABCDEF"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASENTINELKEYID0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    keys = os.path.join(ROOT, "scenarios", "keys")
    private_lines = set()
    for name in ("node-pk.pem", "cloud-pk.pem"):
        with open(os.path.join(keys, name)) as fh:
            private_lines |= {line.strip() for line in fh if len(line.strip()) > 40}
    scenario = os.path.join(ROOT, "scenarios", "bundle-instance.yaml")
    ssh_key = "AAAAB3NzaC1yc2EAAAADAQABAAABAQDbundler"
    trace, run_dir, html = tmp_path / "trace.log", tmp_path / "runs", tmp_path / "report.html"
    assert main(["run", scenario, "--record", str(trace), "--run-dir", str(run_dir)]) == 0
    assert main(["report", str(run_dir), "--html", "-o", str(html)]) == 0
    assert main(["image", "unbundle", "-m", "/nonexistent.xml", "-k", f"{keys}/cloud-pk.pem"]) != 0
    printed = "".join(capsys.readouterr())
    written = [printed]
    for root, _, files in os.walk(tmp_path):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                written.append(fh.read().decode("utf-8", "replace"))
    everything = "\n".join(written)
    assert len(everything) > 10000 and "dmsetup" in everything
    for needle in [secret, "AKIASENTINELKEYID0001", ssh_key, *private_lines]:
        assert needle not in everything, needle[:20]


def test_blob_and_lock_files_have_the_original_modes_and_nothing_is_world_writable():
    node = Node()
    node.run("i-M")
    node.run("i-N", emi="emi-33333333")
    host = node.host
    paths = host.run(["find", "/var/lib/eucalyptus/instances/work", "/var/lib/eucalyptus/instances/cache"]).stdout
    modes = {}
    for path in paths.split():
        mode, kind = host.run(["stat", "-c", "%a\t%F", path]).stdout.strip().split("\t")
        modes[path] = (mode, kind)
        if kind != "symbolic link":
            assert int(mode, 8) & 0o002 == 0, path
    files = {p: m for p, (m, k) in modes.items() if k.startswith("regular")}
    dirs = {p: m for p, (m, k) in modes.items() if k == "directory"}
    # BLOBSTORE_FILE_PERM 0660, kernel and ramdisk copies 0664 (NC chmods them for the hypervisor)
    assert {m for p, m in files.items() if not p.endswith((".blocks",)) or "/eki-" not in p and "/eri-" not in p} \
        == {"660"}
    assert {m for p, m in files.items() if p.endswith(".blocks") and ("/eki-" in p or "/eri-" in p)} == {"664"}
    assert set(dirs.values()) == {"771"}                     # BLOBSTORE_DIRECTORY_PERM
    assert any(p.endswith("/lock") or p.endswith(".lock") for p in files)
