"""The boot check's parts (domain XML, initrd, module order, dd to stdout) and, where libvirt and the node image
are at hand, a disk that must not boot."""
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from harness.nodes.bootcheck import libvirt_xml
from harness.nodes.initrd import CpioWriter, module_closure, write_initrd
from harness.scenario import ScenarioError, parse
from harness.scenario.requirements import unmet


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """name -> (mode, data, rdev) of a newc archive, parsed independently of the writer."""
    out, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        f = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = f[1], f[6], (f[9], f[10]), f[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body, rdev)


def test_domain_xml_is_the_nc_kvm_template_with_a_virtio_root():
    xml = libvirt_xml("i-1", "/k", "/r", "/d.img", "/c.log", "qemu")
    dom = ET.fromstring(xml)
    assert dom.get("type") == "qemu"
    assert dom.findtext("os/cmdline") == "root=/dev/vda1 console=ttyS0"
    assert (dom.findtext("os/kernel"), dom.findtext("os/initrd")) == ("/k", "/r")
    target = dom.find("devices/disk/target")
    assert (target.get("dev"), target.get("bus")) == ("vda", "virtio")
    assert dom.find("devices/disk/source").get("file") == "/d.img"
    assert dom.find("devices/serial/source").get("path") == "/c.log"
    assert dom.findtext("on_poweroff") == "destroy" and dom.findtext("on_crash") == "destroy"
    block = ET.fromstring(libvirt_xml("i-1", "/k", "/r", "/dev/mapper/x", "/c", disk_source="block"))
    assert block.find("devices/disk/source").get("dev") == "/dev/mapper/x"


def test_domain_xml_escapes_paths():
    dom = ET.fromstring(libvirt_xml("i-1", "/k&<x>", "/r'", "/d", "/c"))
    assert dom.findtext("os/kernel") == "/k&<x>"


@pytest.fixture
def modules(tmp_path):
    base = tmp_path / "mods"
    for rel in ("kernel/fs/ext4.ko", "kernel/fs/jbd2.ko", "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko",
                "kernel/drivers/virtio_blk.ko", "kernel/drivers/virtio.ko", "kernel/drivers/virtio_ring.ko"):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(rel.encode())
    (base / "modules.dep").write_text(
        "kernel/fs/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2.ko\n"
        "kernel/fs/jbd2.ko:\nkernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\n"
        "kernel/drivers/virtio_blk.ko: kernel/drivers/virtio.ko kernel/drivers/virtio_ring.ko\n"
        "kernel/drivers/virtio.ko: kernel/drivers/virtio_ring.ko\nkernel/drivers/virtio_ring.ko:\n")
    return base


def test_module_closure_loads_dependencies_first(modules):
    order = module_closure(str(modules), ["virtio_blk", "ext4"])
    names = [os.path.basename(p) for p in order]
    assert names == ["virtio_ring.ko", "virtio.ko", "virtio_blk.ko", "jbd2.ko", "mbcache.ko", "crc16.ko", "ext4.ko"]
    with pytest.raises(KeyError, match="nosuch"):
        module_closure(str(modules), ["nosuch"])


def test_initrd_holds_init_busybox_console_and_modules_in_order(modules, tmp_path):
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF fake")
    out = tmp_path / "initrd.img"
    write_initrd(str(out), str(busybox), str(modules), ["ext4"])
    entries = read_cpio(out.read_bytes())
    assert entries["init"][1].startswith(b"#!/bin/busybox sh") and entries["init"][0] & 0o111
    assert entries["bin/busybox"][1] == b"\x7fELF fake"
    assert entries["dev/console"][0] & 0o170000 == 0o020000 and entries["dev/console"][2] == (5, 1)
    assert entries["modules/order"][1] == b"jbd2.ko\nmbcache.ko\ncrc16.ko\next4.ko\n"
    assert entries["modules/ext4.ko"][1] == b"kernel/fs/ext4.ko"


def test_cpio_pads_every_entry_to_four_bytes(tmp_path):
    with open(tmp_path / "a.cpio", "wb") as fh:
        w = CpioWriter(fh)
        w.file("x", b"12345")
        w.symlink("y", "x")
        w.close()
    data = (tmp_path / "a.cpio").read_bytes()
    assert len(data) % 4 == 0
    assert read_cpio(data)["x"][1] == b"12345" and read_cpio(data)["y"][1] == b"x"


def test_simulated_dd_writes_to_standard_output(tmp_path):
    from harness.backends.sim import SimHost
    host = SimHost()
    assert host.run(["dd", "of=/tmp/f", "status=none"], "hello world").rc == 0
    out = host.run(["dd", "if=/tmp/f", "bs=4", "count=2"])
    assert out.rc == 0 and out.stdout == "hello wo"
    assert out.stderr.startswith("2+0 records in\n2+0 records out\n8 bytes copied, ")
    assert host.run(["dd", "if=/tmp/f", "bs=1M", "status=none"]).stdout == "hello world"


SCENARIO = """name: x
requires: [{req}]
images:
  - {{id: eki-1, {image}}}
steps:
  - terminate_instance: {{id: i-1}}
"""


@pytest.mark.parametrize("req,image,error", [
    ("libvirt", "content: file", "content 'file' and 'source'"),
    ("libvirt", "size: 4, source: x", "content 'file' and 'source'"),
    ("libvirt", "content: zeros", "field 'size': required"),
    ("kvm", "size: 4", "requires: a list of node-image, libvirt"),
])
def test_bad_image_or_requirement_is_one_line(req, image, error):
    with pytest.raises(ScenarioError, match=error) as exc:
        parse(SCENARIO.format(req=req, image=image), "s.yaml")
    assert str(exc.value).startswith("s.yaml: ") and "\n" not in str(exc.value)


def test_file_image_size_comes_from_the_source(tmp_path):
    src = tmp_path / "k"
    src.write_bytes(b"k" * 5000)
    sc = parse(SCENARIO.format(req="libvirt", image=f"content: file, source: {src}"), str(tmp_path / "s.yaml"))
    from harness.backends.sim import SimHost
    from harness.images.staging import StagedImages
    host = SimHost()
    StagedImages(sc.images).stage(host)
    assert sc.images[0].size == 5000
    assert host.run(["stat", "-c", "%s", sc.images[0].staged_path]).stdout == "5000\n"


@pytest.mark.skipif(bool(unmet(["node-image", "libvirt"])), reason=unmet(["node-image", "libvirt"]) or "-")
def test_a_disk_without_partition_table_does_not_boot(tmp_path):
    """The check can fail: the NC-built disk with its MBR zeroed gives the guest no vda1."""
    import pathlib
    import tempfile

    from harness.nodes.bootcheck import boot
    from harness.nodes.build import DEFAULT_DIR
    work = pathlib.Path(tempfile.mkdtemp(prefix="nc-harness-test-"))   # pytest's own tmp is 0700: qemu runs
    os.chmod(work, 0o755)                                                # as libvirt's user
    try:
        for name in ("vmlinuz", "initrd.img"):
            shutil.copy(os.path.join(DEFAULT_DIR, name), work / name)
        disk = work / "disk.img"
        with open(disk, "wb") as fh:
            fh.truncate(16 * 1024 * 1024)
        result = boot("nc-harness-test-noboot", {"kernel": str(work / "vmlinuz"),
                                                 "ramdisk": str(work / "initrd.img"), "sda": str(disk)},
                      str(work), timeout=120)
    finally:
        shutil.rmtree(work)
    assert not result.ok
    assert "nc-harness initrd: cannot mount /dev/vda1" in result.console
    import libvirt
    conn = libvirt.open("qemu:///system")
    try:   # the guest powered itself off: the domain must still have been undefined, not left behind
        assert "nc-harness-test-noboot" not in [d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
    assert result.line().startswith("did not boot within ")


def test_a_stale_libvirt_socket_is_not_a_running_daemon(tmp_path):
    """CI once found /run/libvirt/libvirt-sock left by a daemon that had died: the file existed, nothing listened."""
    import socket

    from harness.nodes.bootcheck import libvirtd_listening
    path = str(tmp_path / "libvirt-sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    assert libvirtd_listening(path)
    server.close()
    assert os.path.exists(path) and not libvirtd_listening(path)
    assert not libvirtd_listening(str(tmp_path / "missing"))
