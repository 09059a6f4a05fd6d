"""Writes the bad-input corpus: one file (or directory) per case under this directory, and `cases.tsv` with
each case's command line and a piece of the one-line error it must give. Rerun after changing a case:

    python3 tests/bad_inputs/generate.py

`{case}` in a command is the case's file, `{dest}` an empty directory that must stay empty, `{keys}` the
scenario keys, `{good}` the directory of the good bundle the manifest cases point into."""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 30000                      # the good bundle: 30000 random bytes, 4 parts of 10000
BIG = 1 << 20                     # cases larger than this are written at test time, never committed
ROOT = os.path.dirname(os.path.dirname(HERE))
KEYS = os.path.join(ROOT, "scenarios", "keys")

GOOD_SCENARIO = """name: bad-input
node: {dialect: debian12, seed: 1, cache_mb: 64}
images:
  - {id: eki-00000001, size: 4096, content: pattern}
  - {id: eri-00000001, size: 4096, content: pattern}
  - {id: emi-00000001, size: 1048576, content: zeros}
steps:
  - run_instance:
      id: i-00000001
      user: AIDABADINPUT
      vbrs:
        - kernel:eki-00000001:-1:none:none:staged
        - ramdisk:eri-00000001:-1:none:none:staged
        - machine:emi-00000001:-1:none:sda1:staged
"""
RUN = "run {case}"


def vbr_scenario(vbrs: list[str]) -> str:
    lines = "".join(f"        - {v!r}\n" if v.strip() != v or v == "" or v[0] in "[{&*!|>%@`#,'\"" or ": " in v
                    else f"        - {v}\n" for v in vbrs)
    return GOOD_SCENARIO.split("      vbrs:\n")[0] + "      vbrs:\n" + lines


def replace(old: str, new: str, text: str = GOOD_SCENARIO) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


K, R, M = "kernel:eki-00000001:-1:none:none:staged", "ramdisk:eri-00000001:-1:none:none:staged", \
    "machine:emi-00000001:-1:none:sda1:staged"

# (name, text or bytes, expected piece of the error)
SCENARIOS = [
    ("empty", "", "a scenario is a mapping"),
    ("only-comment", "# nothing here\n", "a scenario is a mapping"),
    ("top-list", "- name: x\n", "a scenario is a mapping"),
    ("top-scalar", "just words\n", "a scenario is a mapping"),
    ("unterminated-double-quote", 'name: "bad\nsteps: []\n', "YAML error"),
    ("unterminated-single-quote", "name: 'bad\n", "YAML error"),
    ("unclosed-bracket", "name: x\nsteps: [\n", "YAML error"),
    ("unclosed-brace", "name: x\nnode: {dialect: el6\n", "YAML error"),
    ("tab-indent", "name: x\nnode:\n\tdialect: el6\n", "YAML error"),
    ("bad-indent", "name: x\n  node: 1\n", "YAML error"),
    ("non-utf8", b"name: \xff\xfe\n", "not UTF-8"),
    ("nul-bytes", b"name: a\x00b\n", "YAML error"),
    ("deep-nesting", "name: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("ten-mb-line", "name: " + "x" * 10_000_000 + "\n", "more than a scenario may have"),
    ("anchor-bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nname: x\n", "unknown top-level field"),
    ("python-tag", "name: !!python/object/apply:os.system ['true']\n", "YAML error"),
    ("duplicate-key", "name: a\nname: b\nsteps: []\n", "duplicate key 'name'"),
    ("duplicate-step-key", replace("      id: i-00000001\n", "      id: i-00000001\n      id: i-00000002\n"),
     "duplicate key 'id'"),
    ("unknown-top-field", "name: x\nsteps: []\nfoo: 1\n", "unknown top-level field 'foo'"),
    ("name-missing", "steps: []\n", "field 'name'"),
    ("name-int", "name: 7\nsteps: []\n", "field 'name'"),
    ("name-empty", "name: ''\nsteps: []\n", "field 'name'"),
    ("node-list", replace("node: {dialect: debian12, seed: 1, cache_mb: 64}", "node: [1, 2]"), "node: must be a mapping"),
    ("node-unknown-field", replace("seed: 1,", "seed: 1, colour: red,"), "node: unknown field 'colour'"),
    ("node-seed-string", replace("seed: 1", "seed: one"), "node.seed"),
    ("node-seed-negative", replace("seed: 1", "seed: -5"), "node.seed"),
    ("node-seed-oversized", replace("seed: 1", "seed: 100000000000000000000000000000"), "node.seed"),
    ("node-cache-negative", replace("cache_mb: 64", "cache_mb: -1"), "node.cache_mb"),
    ("node-cache-oversized", replace("cache_mb: 64", "cache_mb: 99999999999999999999"), "node.cache_mb"),
    ("node-cache-float", replace("cache_mb: 64", "cache_mb: 6.4"), "node.cache_mb"),
    ("node-work-negative", replace("cache_mb: 64", "cache_mb: 64, work_mb: -3"), "node.work_mb"),
    ("node-disk-ops-oversized", replace("cache_mb: 64", "cache_mb: 64, concurrent_disk_ops: 100000"),
     "node.concurrent_disk_ops"),
    ("node-dialect-unknown", replace("dialect: debian12", "dialect: rhel9"), "node.dialect"),
    ("node-dialect-int", replace("dialect: debian12", "dialect: 12"), "node.dialect"),
    ("node-loops-debian", replace("cache_mb: 64", "cache_mb: 64, loops: 8"), "node.loops"),
    ("node-loops-zero", replace("dialect: debian12", "dialect: el6, loops: 0").replace("debian12", "el6"),
     "node.loops"),
    ("node-loops-oversized", replace("dialect: debian12", "dialect: el6, loops: 100000"), "node.loops"),
    ("node-hypervisor-list", replace("cache_mb: 64", "cache_mb: 64, hypervisor: [kvm]"), "node.hypervisor"),
    ("node-hypervisor-negative", replace("cache_mb: 64", "cache_mb: 64, hypervisor: {release_delay: -1}"),
     "node.hypervisor"),
    ("node-inject-keys-string", replace("cache_mb: 64", "cache_mb: 64, inject_keys: maybe"), "node.inject_keys"),
    ("images-mapping", replace("images:\n", "images: {a: 1}\nxx:\n"), "unknown top-level field"),
    ("images-not-list", replace("images:\n  - {id: eki-00000001, size: 4096, content: pattern}\n",
                                "images: 5\nold:\n  - {id: eki-00000001, size: 4096, content: pattern}\n"),
     "unknown top-level field"),
    ("image-scalar", replace("  - {id: eki-00000001, size: 4096, content: pattern}", "  - eki-00000001"),
     "images[0]: must be a mapping"),
    ("image-no-id", replace("{id: eki-00000001, size: 4096", "{size: 4096"), "field 'id': required"),
    ("image-id-int", replace("{id: eki-00000001,", "{id: 12345678,"), "images[0]: field 'id'"),
    ("image-id-short", replace("{id: eki-00000001,", "{id: ek,"), "images[0]: id 'ek'"),
    ("image-id-traversal", replace("{id: eki-00000001,", "{id: ../../etc/x,"), "images[0]: id '../../etc/x'"),
    ("image-id-dotdot", replace("{id: eki-00000001,", "{id: eki-..-1,"), "images[0]: id 'eki-..-1'"),
    ("image-id-shell", replace("{id: eki-00000001,", "{id: 'eki-1;rm -rf /',"), "images[0]: id"),
    ("image-id-space", replace("{id: eki-00000001,", "{id: 'eki 0001',"), "images[0]: id"),
    ("image-id-long", replace("{id: eki-00000001,", "{id: eki-" + "1" * 100 + ","), "images[0]: id"),
    ("image-id-duplicate", replace("{id: eri-00000001,", "{id: eki-00000001,"), "duplicate image id"),
    ("image-size-missing", replace("{id: eki-00000001, size: 4096,", "{id: eki-00000001,"),
     "field 'size': required"),
    ("image-size-negative", replace("size: 4096,", "size: -4096,"), "size: must be positive"),
    ("image-size-zero", replace("size: 4096,", "size: 0,"), "size: must be positive"),
    ("image-size-string", replace("size: 4096,", "size: big,"), "field 'size'"),
    ("image-size-float", replace("size: 4096,", "size: 40.96,"), "field 'size'"),
    ("image-size-bool", replace("size: 4096,", "size: true,"), "field 'size'"),
    ("image-size-oversized", replace("size: 4096,", "size: 1000000000000000000000000000,"), "allowed"),
    ("image-content-unknown", replace("content: pattern", "content: noise"), "content: must be one of"),
    ("image-unknown-field", replace("content: pattern", "content: pattern, colour: red"),
     "unknown field 'colour'"),
    ("image-serve-ftp", replace("content: pattern", "content: pattern, serve: ftp"), "serve: only 'http'"),
    ("image-file-without-source", replace("content: pattern", "content: file"), "go together"),
    ("image-publish-no-bucket", replace("content: pattern", "content: pattern, publish: {kernel: x}"),
     "publish"),
    ("steps-missing", "name: x\n", "field 'steps'"),
    ("steps-empty", "name: x\nsteps: []\n", "field 'steps'"),
    ("steps-mapping", "name: x\nsteps: {run_instance: {}}\n", "field 'steps'"),
    ("step-scalar", "name: x\nsteps: [run]\n", "step 1: must be a mapping"),
    ("step-two-kinds", "name: x\nsteps:\n  - {restart_node: {}, check_invariants: {}}\n",
     "a step is a mapping with exactly one key, its kind"),
    ("step-unknown", "name: x\nsteps:\n  - launch: {id: i-1}\n", "unknown step 'launch'"),
    ("step-args-list", "name: x\nsteps:\n  - terminate_instance: [i-1]\n", "must be a mapping"),
    ("step-unknown-field", "name: x\nsteps:\n  - terminate_instance: {id: i-1, force: true}\n",
     "unknown field 'force'"),
    ("step-missing-id", "name: x\nsteps:\n  - terminate_instance: {}\n", "field 'id': required"),
    ("step-id-int", "name: x\nsteps:\n  - terminate_instance: {id: 12}\n", "field 'id': must be a string"),
    ("step-id-shell", "name: x\nsteps:\n  - terminate_instance: {id: 'i-1; reboot'}\n", "id 'i-1; reboot'"),
    ("step-id-subst", "name: x\nsteps:\n  - terminate_instance: {id: 'i-$(id)'}\n", "id 'i-$(id)'"),
    ("step-id-backtick", "name: x\nsteps:\n  - terminate_instance: {id: 'i-`id`'}\n", "id 'i-`id`'"),
    ("step-id-traversal", "name: x\nsteps:\n  - terminate_instance: {id: ../../etc}\n", "id '../../etc'"),
    ("step-id-newline", "name: x\nsteps:\n  - terminate_instance: {id: \"i-1\\nrm\"}\n", "id"),
    ("run-user-shell", replace("user: AIDABADINPUT", "user: 'AIDA|cat /etc/shadow'"), "user 'AIDA|cat /etc/shadow'"),
    ("run-user-traversal", replace("user: AIDABADINPUT", "user: ../.."), "user '../..'"),
    ("run-key-newline", replace("      user: AIDABADINPUT\n", "      user: AIDABADINPUT\n      key: \"ssh-rsa AAAA x\\n"
                                "ssh-rsa BBBB attacker\"\n"), "key: one line"),
    ("run-key-nul", replace("      user: AIDABADINPUT\n", "      user: AIDABADINPUT\n      key: \"ssh-rsa A\\0B\"\n"),
     "key: one line"),
    ("run-vbrs-mapping", replace("      vbrs:\n", "      vbrs: {a: 1}\n      old:\n"), "unknown field 'old'"),
    ("run-pinned-unknown", replace("      user: AIDABADINPUT\n", "      user: AIDABADINPUT\n      pinned: {root: x}\n"),
     "only 'keyed' and 'disk'"),
    ("expect-no-command", "name: x\nsteps:\n  - expect: {match: lines}\n", "needs one of"),
    ("expect-match-unknown", "name: x\nsteps:\n  - expect: {match: fuzzy, losetup -a: ''}\n", "field 'match'"),
    ("expect-ignore-unknown", "name: x\nsteps:\n  - expect: {ignore: [colours], losetup -a: ''}\n",
     "unknown item 'colours'"),
    ("expect-ignore-string", "name: x\nsteps:\n  - expect: {ignore: inodes, losetup -a: ''}\n",
     "field 'ignore': must be a list"),
    ("fault-bad-regex", "name: x\nsteps:\n  - inject_fault: {match: '(unclosed'}\n", "bad regex"),
    ("fault-nth-string", "name: x\nsteps:\n  - inject_fault: {match: x, nth: first}\n", "field 'nth'"),
    ("fault-run-first-empty", "name: x\nsteps:\n  - inject_fault: {match: x, run_first: []}\n",
     "field 'run_first'"),
    ("fault-run-first-ints", "name: x\nsteps:\n  - inject_fault: {match: x, run_first: [1, 2]}\n",
     "field 'run_first'"),
    ("commands-bad-regex", "name: x\nsteps:\n  - expect_commands: {present: ['[a-']}\n", "bad regex"),
    ("commands-order-bad-regex", "name: x\nsteps:\n  - expect_commands: {order: ['*x']}\n", "bad regex"),
    ("node-command-empty", "name: x\nsteps:\n  - node_command: {argv: []}\n", "field 'argv'"),
    ("node-command-string", "name: x\nsteps:\n  - node_command: {argv: 'rm -rf /'}\n", "field 'argv'"),
    ("bundle-state-unknown", "name: x\nsteps:\n  - bundle_instance: {id: i-1, bucket: b, prefix: p, "
                             "expect_state: done}\n", "expect_state"),
    ("requires-unknown", "name: x\nrequires: [gpu]\nsteps:\n  - restart_node: {}\n", "requires"),
    ("leaks-allowed-string", "name: x\nleaks_allowed: loop\nsteps:\n  - restart_node: {}\n", "leaks_allowed"),
    ("restart-reboot-string", "name: x\nsteps:\n  - restart_node: {reboot: yes please}\n", "field 'reboot'"),
    ("hold-seconds-string", "name: x\nsteps:\n  - hold_device: {id: i-1, link: sda, seconds: long}\n",
     "field 'seconds'"),
]

VBRS = [
    ("vbr-empty", [""], "invalid 'type' specification"),
    ("vbr-one-field", ["kernel"], "invalid 'id' specification"),
    ("vbr-two-fields", ["kernel:eki-00000001"], "invalid 'size' specification"),
    ("vbr-five-fields", ["kernel:eki-00000001:-1:none:none"], "invalid 'resourceLocation' specification"),
    ("vbr-empty-middle", ["kernel:eki-00000001::none:none:staged"], "invalid 'size' specification"),
    ("vbr-size-word", ["kernel:eki-00000001:big:none:none:staged"], "invalid 'size' specification"),
    ("vbr-size-float", ["kernel:eki-00000001:1.5:none:none:staged"], "invalid 'size' specification"),
    ("vbr-size-underscore", ["kernel:eki-00000001:1_000:none:none:staged"], "invalid 'size' specification"),
    ("vbr-size-spaces", ["kernel:eki-00000001: 12:none:none:staged"], "invalid 'size' specification"),
    ("vbr-size-oversized", [K, R, M, "ephemeral0:none:99999999999999999999999:ext3:sda2:none"],
     "invalid 'size' specification"),
    ("vbr-size-too-large", [K, R, M, "ephemeral0:none:1099511627777:ext3:sda2:none"], "invalid size"),
    ("vbr-size-negative", [K, R, M, "ephemeral0:none:-5:ext3:sda2:none"], "invalid size"),
    ("vbr-ephemeral-size-zero", [K, R, M, "ephemeral0:none:0:ext3:sda2:none"], "invalid size '0'"),
    ("vbr-type-unknown", [K, R, "floppy:emi-00000001:-1:none:sda1:staged"], "failed to parse resource type"),
    ("vbr-location-ftp", [K, R, "machine:emi-00000001:-1:none:sda1:ftp://x/y"], "failed to parse resource location"),
    ("vbr-location-relative", [K, R, "machine:emi-00000001:-1:none:sda1:images/x"],
     "failed to parse resource location"),
    ("vbr-machine-location-none", [K, R, "machine:emi-00000001:-1:none:sda1:none"], "resourceLocation not specified"),
    ("vbr-format-unknown", [K, R, M, "ephemeral0:none:1048576:zfs:sda2:none"], "failed to parse resource format"),
    ("vbr-machine-format", [K, R, "machine:emi-00000001:-1:ext3:sda1:staged"], "invalid format 'ext3'"),
    ("vbr-device-short", [K, R, "machine:emi-00000001:-1:none:sd:staged"], "invalid guestDeviceName"),
    ("vbr-device-type", [K, R, "machine:emi-00000001:-1:none:qda1:staged"], "failed to parse disk type"),
    ("vbr-device-letter", [K, R, "machine:emi-00000001:-1:none:sdA1:staged"], "failed to parse disk type"),
    ("vbr-device-number-word", [K, R, "machine:emi-00000001:-1:none:sdax:staged"], "unexpected partition"),
    ("vbr-device-number-large", [K, R, "machine:emi-00000001:-1:none:sda99:staged"], "unexpected partition"),
    ("vbr-device-partition-zero", [K, R, "machine:emi-00000001:-1:none:sda0:staged"], "unexpected partition"),
    ("vbr-device-traversal", [K, R, "machine:emi-00000001:-1:none:../../etc:staged"], "failed to parse disk type"),
    ("vbr-device-none-machine", [K, R, "machine:emi-00000001:-1:none:none:staged"], "guestDeviceName not specified"),
    ("vbr-id-short", [K, R, "machine:emi:-1:none:sda1:http://example.invalid/x"], "failed to parse VBR resource ID"),
    ("vbr-id-traversal", [K, R, "machine:emi-../../../etc:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-shell", [K, R, "machine:emi-1;reboot:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-subst", [K, R, "machine:emi-$(id)x:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-space", [K, R, "machine:emi 0001:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-slash", [K, R, "machine:emi/00000001:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-non-ascii", [K, R, "machine:emi-0000é001:-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-id-long", [K, R, "machine:emi-" + "0" * 80 + ":-1:none:sda1:http://example.invalid/x"], "invalid VBR resource ID"),
    ("vbr-two-machines", [K, R, M, "machine:emi-00000001:-1:none:sda2:staged"], "vbrs"),
    ("vbr-no-machine", [K, R], "vbrs"),
    ("vbr-disk-and-partition", [K, R, M, "ephemeral0:none:1048576:ext3:sda:none"], "vbrs"),
    ("vbr-partition-hole", [K, R, M, "ephemeral0:none:1048576:ext3:sda3:none"], "vbrs"),
    ("vbr-duplicate-device", [K, R, M, "ephemeral0:none:1048576:ext3:sda1:none"], "vbrs"),
    ("vbr-not-string", ["kernel:eki-00000001:-1:none:none:staged", 5], "vbrs[1]"),
    ("vbr-mapping-unknown-field", [{"type": "kernel", "colour": "red"}], "vbrs[0]"),
]

TRACES = [
    ("non-utf8", b"/sbin/losetup -a\n\xff\xfe\n", "not valid UTF-8"),
    ("non-utf8-first-line", b"\xc3\x28 losetup\n", "not valid UTF-8"),
    ("unterminated-double", '/sbin/losetup -a "x\n', "unexpected EOF"),
    ("unterminated-single", "echo 'abc | /sbin/dmsetup create x\n", "unexpected EOF"),
    ("unterminated-double-stamped", '00:22:00 echo "0 63 zero | /sbin/dmsetup create euca-zero\n', "unexpected EOF"),
    ("ten-mb-line", "/sbin/losetup " + "x" * 10_000_000 + "\n", "longer than"),
    ("nul-byte", "/sbin/losetup\x00 -a\n", "NUL byte"),
    ("dangling-pipe", "/sbin/losetup -a |\n", "syntax error"),
    ("dangling-and", "/sbin/losetup -a &&\n", "syntax error"),
    ("leading-pipe", "| /sbin/losetup -a\n", "syntax error"),
    ("redirect-no-target", "/sbin/losetup -a >\n", "syntax error"),
    ("double-semicolon", "/sbin/losetup -a ;;\n", "syntax error"),
    ("subshell", "(/sbin/losetup -a)\n", "not supported"),
    ("backtick", "/sbin/losetup `id`\n", "not supported"),
    ("command-substitution", "/sbin/losetup $(id)\n", "not supported"),
    ("unknown-tool", "/usr/bin/frobnicate --now\n", "command not found"),
    ("failing-command", "/sbin/dmsetup remove euca-does-not-exist\n", "No such device or address"),
    ("transcript-bad-rc", "$ /sbin/losetup -a\n# rc=abc\n", "rc"),
    ("transcript-unknown-marker", "$ /sbin/losetup -a\n# (frob) x\n", "marker"),
    ("transcript-stdin-without-command", "# (stdin) 0 63 zero\n$ /sbin/losetup -a\n", "stdin"),
    ("only-comments", "# a trace with no command\n", "no command"),
    ("empty", "", "no command"),
    ("blank-lines", "\n\n\n", "no command"),
    ("bad-continuation", "/sbin/losetup \\\n", "continuation"),
    ("heredoc", "cat <<EOF\nx\nEOF\n", "not supported"),
    ("background", "/sbin/losetup -a &\n", "not supported"),
    ("glob-in-trace", "rm -rf /var/lib/eucalyptus/*\n", "not supported"),
    ("variable", "losetup $DEV\n", "not supported"),
    ("dm-unknown-target", 'echo "0 10 frob" | /sbin/dmsetup create x\n', "Invalid argument"),
    ("dm-oversized-length", 'echo "0 99999999999999999999999 zero" | /sbin/dmsetup create x\n', "Invalid argument"),
    ("dm-negative-length", 'echo "0 -5 zero" | /sbin/dmsetup create x\n', "Invalid format on line 1"),
    ("dm-gap", 'echo "10 10 zero" | /sbin/dmsetup create x\n', "Invalid argument"),
    ("losetup-negative-offset", "/sbin/losetup -o -5 /dev/loop0 /etc/hostname\n", "losetup"),
]

MANIFEST_CASES = [
    ("not-xml", lambda m: "this is not xml\n", "not well-formed"),
    ("truncated", lambda m: m[: len(m) // 2], "not well-formed"),
    ("empty", lambda m: "", "not well-formed"),
    ("wrong-root", lambda m: m.replace("<manifest>", "<manifesto>").replace("</manifest>", "</manifesto>"),
     "manifest"),
    ("non-utf8", lambda m: m.encode() .replace(b"<name>small</name>", b"<name>sm\xffall</name>"), "manifest"),
    ("no-image", lambda m: _cut(m, "<image>", "</image>"), "image"),
    ("no-size", lambda m: _cut(m, "<size>", "</size>"), "size"),
    ("size-negative", lambda m: m.replace(f"<size>{SIZE}</size>", "<size>-1</size>"), "size"),
    ("size-word", lambda m: m.replace(f"<size>{SIZE}</size>", "<size>big</size>"), "size"),
    ("size-oversized", lambda m: m.replace(f"<size>{SIZE}</size>", "<size>" + "9" * 40 + "</size>"), "size"),
    ("size-wrong", lambda m: m.replace(f"<size>{SIZE}</size>", f"<size>{SIZE + 1}</size>"), "size"),
    ("digest-wrong", lambda m: _replace_between(m, '<digest algorithm="SHA1">', "</digest>", "0" * 40), "digest"),
    ("digest-not-hex", lambda m: _replace_between(m, '<digest algorithm="SHA1">', "</digest>", "zz"), "digest"),
    ("no-parts", lambda m: _cut(m, "<parts", "</parts>"), "parts"),
    ("part-traversal", lambda m: m.replace("<filename>small.part.01</filename>",
                                           "<filename>../../../etc/passwd</filename>"), "part"),
    ("part-absolute", lambda m: m.replace("<filename>small.part.01</filename>",
                                          "<filename>/etc/passwd</filename>"), "part"),
    ("part-subdir", lambda m: m.replace("<filename>small.part.01</filename>",
                                        "<filename>sub/small.part.01</filename>"), "part"),
    ("part-empty-name", lambda m: m.replace("<filename>small.part.01</filename>", "<filename></filename>"), "part"),
    ("part-dotdot", lambda m: m.replace("<filename>small.part.01</filename>", "<filename>..</filename>"), "part"),
    ("part-missing-file", lambda m: m.replace("<filename>small.part.01</filename>",
                                              "<filename>small.part.99</filename>"), "small.part.99"),
    ("part-digest-wrong", lambda m: _first_part_digest(m, "0" * 40), "small.part.00"),
    ("part-index-word", lambda m: m.replace('<part index="1">', '<part index="one">'), "part"),
    ("part-index-duplicate", lambda m: m.replace('<part index="1">', '<part index="0">'), "part"),
    ("part-count-wrong", lambda m: re.sub(r'count="(\d+)"', lambda x: f'count="{int(x.group(1)) + 1}"', m), "part"),
    ("key-not-hex", lambda m: _replace_between(m, '<ec2_encrypted_key algorithm="AES-128-CBC">',
                                               "</ec2_encrypted_key>", "nothex"), "key"),
    ("key-wrong", lambda m: _replace_between(m, '<ec2_encrypted_key algorithm="AES-128-CBC">',
                                             "</ec2_encrypted_key>", "00" * 256), "key"),
    ("iv-missing", lambda m: _cut(m, "<ec2_encrypted_iv>", "</ec2_encrypted_iv>"), "decrypt"),
    ("entity-bomb", lambda m: '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                              + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                                        for i in range(9))
                              + ']>\n<manifest>&lol8;</manifest>\n', "manifest"),
    ("external-entity", lambda m: '<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                                  "<manifest>&x;</manifest>\n", "manifest"),
    ("huge", lambda m: m.replace("<name>small</name>", "<name>" + "x" * 2_000_000 + "</name>"), "manifest"),
]


def _cut(text: str, start: str, end: str) -> str:
    i = text.index(start)
    j = text.index(end, i) + len(end)
    return text[:i] + text[j:]


def _replace_between(text: str, start: str, end: str, new: str) -> str:
    i = text.index(start) + len(start)
    j = text.index(end, i)
    return text[:i] + new + text[j:]


def _first_part_digest(text: str, new: str) -> str:
    i = text.index('<part index="0">')
    i = text.index(">", text.index("<digest", i)) + 1
    j = text.index("</digest>", i)
    return text[:i] + new + text[j:]


CLI = [
    ("no-verb", "", "a verb is needed"),
    ("unknown-verb", "frobnicate", "invalid choice"),
    ("run-no-path", "run", "the following arguments are required"),
    ("run-missing-file", "run /nonexistent/scenario.yaml", "/nonexistent/scenario.yaml"),
    ("run-unknown-flag", "run --colour red scenarios/cold-cache.yaml", "unrecognized arguments"),
    ("run-backend-unknown", "run --backend mainframe scenarios/cold-cache.yaml", "unknown backend 'mainframe'"),
    ("run-backend-ssh-bad", "run --backend ssh:// scenarios/cold-cache.yaml", "ssh://"),
    ("run-directory-empty", "run {dest}", "no scenario"),
    ("replay-no-trace", "replay", "the following arguments are required"),
    ("replay-missing-file", "replay /nonexistent/trace.log", "/nonexistent/trace.log"),
    ("replay-dialect-unknown", "replay --dialect rhel9 scenarios/traces/seed-000.log", "invalid choice"),
    ("replay-seed-word", "replay --seed one scenarios/traces/seed-000.log", "invalid int value"),
    ("replay-expect-missing", "replay --expect /nonexistent/expect scenarios/traces/seed-000.log",
     "/nonexistent/expect"),
    ("sweep-no-mode", "sweep scenarios/cold-cache.yaml", "one of the arguments --faults --crashes --kinds is required"),
    ("sweep-both-modes", "sweep scenarios/cold-cache.yaml --faults --crashes", "not allowed with argument"),
    ("sweep-points-word", "sweep scenarios/cold-cache.yaml --faults --points three", "--points"),
    ("sweep-points-zero", "sweep scenarios/cold-cache.yaml --faults --points 0", "--points"),
    ("sweep-points-beyond", "sweep scenarios/cold-cache.yaml --faults --points 100000", "--points"),
    ("sweep-times-zero", "sweep scenarios/cold-cache.yaml --faults --times 0", "--times"),
    ("sweep-jobs-zero", "sweep scenarios/cold-cache.yaml --faults --jobs 0", "--jobs"),
    ("sweep-missing-file", "sweep /nonexistent.yaml --faults", "/nonexistent.yaml"),
    ("sweep-bad-scenario", "sweep {case} --faults", "{case}"),
    ("diff-one-arg", "diff {dest}", "the following arguments are required"),
    ("report-missing-dir", "report /nonexistent/run-dir --html -o {dest}/report.html", "/nonexistent/run-dir"),
    ("explore-steps-word", "explore --steps many", "invalid int value"),
    ("node-kind-unknown", "node up --kind vax", "invalid choice"),
    ("image-no-verb", "image", "the following arguments are required"),
    ("image-bundle-no-image", "image bundle -r x86_64 -u 123456789012", "the following arguments are required"),
    ("image-bundle-missing-image", "image bundle -i /nonexistent.img -r x86_64 -u 123456789012 "
                                   "-c {keys}/node-cert.pem -k {keys}/node-pk.pem --ec2cert {keys}/cloud-cert.pem "
                                   "-d {dest}", "/nonexistent.img"),
    ("image-bundle-arch-unknown", "image bundle -i {case} -r vax -u 123456789012 -c {keys}/node-cert.pem "
                                  "-k {keys}/node-pk.pem --ec2cert {keys}/cloud-cert.pem -d {dest}", "vax"),
    ("image-bundle-part-size-zero", "image bundle -i {case} -r x86_64 -u 123456789012 -c {keys}/node-cert.pem "
                                    "-k {keys}/node-pk.pem --ec2cert {keys}/cloud-cert.pem -d {dest} "
                                    "--part-size 0", "part-size"),
    ("image-bundle-key-missing", "image bundle -i {case} -r x86_64 -u 123456789012 -c {keys}/node-cert.pem "
                                 "-k /nonexistent.pem --ec2cert {keys}/cloud-cert.pem -d {dest}", "/nonexistent.pem"),
    ("image-bundle-key-not-pem", "image bundle -i {case} -r x86_64 -u 123456789012 -c {keys}/node-cert.pem "
                                 "-k {case} --ec2cert {keys}/cloud-cert.pem -d {dest}", "{case}"),
    ("image-bundle-prefix-traversal", "image bundle -i {case} -r x86_64 -u 123456789012 -c {keys}/node-cert.pem "
                                      "-k {keys}/node-pk.pem --ec2cert {keys}/cloud-cert.pem -d {dest} "
                                      "-p ../../escape", "prefix"),
    ("image-bundle-enc-key-short", "image bundle -i {case} -r x86_64 -u 123456789012 -c {keys}/node-cert.pem "
                                   "-k {keys}/node-pk.pem --ec2cert {keys}/cloud-cert.pem -d {dest} --enc-key 12",
     "enc-key"),
    ("image-unbundle-no-manifest", "image unbundle -d {dest}", "the following arguments are required"),
    ("image-unbundle-missing-manifest", "image unbundle -m /nonexistent.manifest.xml -s {good} -d {dest} "
                                        "-k {keys}/cloud-pk.pem", "/nonexistent.manifest.xml"),
    ("image-unbundle-cert-as-key", "image unbundle -m {good}/small.manifest.xml -s {good} -d {dest} "
                                   "-k {keys}/cloud-cert.pem", "cloud-cert.pem"),
    ("image-register-no-location", "image register", "the following arguments are required"),
    ("image-describe-no-endpoint", "image describe emi-12345678", "no S3 endpoint"),
    ("imager-empty-value", "imager prepare vbr=", "parameters must have non-empty values"),
    ("imager-empty-name", "imager fsck --=x", "parameters must have non-empty names"),
    ("imager-unknown-command", "imager frobnicate", "unknown command"),
    ("imager-unknown-parameter", "imager prepare vbr=machine:emi-1234:-1:none:sda1:file:///x colour=red", "unknown parameter 'colour'"),
    ("imager-missing-vbr", "imager prepare boot=yes", "missing mandatory parameter 'vbr'"),
    ("imager-bad-size", "imager work_size=12q fsck", "is not a size"),
    ("imager-bad-bool", "imager purge_cache=perhaps fsck", "is not yes or no"),
    ("imager-relative-work", "imager work=tmp fsck", "must be an absolute path"),
    ("imager-bad-vbr", "imager prepare vbr=machine:emi-1234:-1:none:sda1:gopher://x", "failed to parse resource location"),
    ("imager-boot-no-kernel", "imager prepare boot=yes vbr=machine:emi-1234:-1:none:sda1:file:///x", "needs a kernel and a ramdisk"),
    ("imager-too-many-commands", "imager fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck fsck", "too many commands"),
    ("imager-unknown-backend", "imager backend=mainframe fsck", "unknown backend"),
]


def write(path: str, data) -> None:
    if len(data) > BIG and not WRITE_BIG:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))


WRITE_BIG = False


def write_big_cases() -> None:
    """The cases too large to commit (10 MB lines), written beside the others if they are missing."""
    global WRITE_BIG
    WRITE_BIG = True
    try:
        for name, text, _ in SCENARIOS:
            path = os.path.join(HERE, f"scenarios/{name}.yaml")
            if len(text) > BIG and not os.path.exists(path):
                write(path, text)
        for name, text, _ in TRACES:
            path = os.path.join(HERE, f"traces/{name}.log")
            if len(text) > BIG and not os.path.exists(path):
                write(path, text)
        manifest = open(os.path.join(HERE, "good-bundle", "small.manifest.xml")).read()
        for name, mutate, _ in MANIFEST_CASES:
            path = os.path.join(HERE, f"manifests/{name}.manifest.xml")
            data = mutate(manifest)
            if len(data) > BIG and not os.path.exists(path):
                write(path, data)
    finally:
        WRITE_BIG = False


def main() -> int:
    for sub in ("scenarios", "vbrs", "traces", "manifests", "cli"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)
    shutil.rmtree(os.path.join(HERE, "good-bundle"), ignore_errors=True)
    rows = []
    for name, text, expect in SCENARIOS:
        rel = f"scenarios/{name}.yaml"
        write(os.path.join(HERE, rel), text)
        rows.append((rel, RUN, expect))
    import yaml
    for name, vbrs, expect in VBRS:
        rel = f"vbrs/{name}.yaml"
        doc = yaml.safe_load(GOOD_SCENARIO)
        doc["steps"][0]["run_instance"]["vbrs"] = vbrs
        write(os.path.join(HERE, rel), yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        rows.append((rel, RUN, expect))
    for name, text, expect in TRACES:
        rel = f"traces/{name}.log"
        write(os.path.join(HERE, rel), text)
        rows.append((rel, "replay {case}", expect))
    # a good bundle (SIZE random bytes, 4 parts) for the manifests to point into
    good = os.path.join(HERE, "good-bundle")
    os.makedirs(good)
    write(os.path.join(good, "small"), random.Random(7).randbytes(SIZE))
    subprocess.run([sys.executable, "-m", "harness.cli.main", "image", "bundle", "-i", os.path.join(good, "small"),
                    "-r", "x86_64", "-u", "123456789012", "-c", f"{KEYS}/node-cert.pem", "-k", f"{KEYS}/node-pk.pem",
                    "--ec2cert", f"{KEYS}/cloud-cert.pem", "-d", good, "-p", "small", "--part-size", "10000"],
                   check=True, cwd=ROOT, capture_output=True)
    os.unlink(os.path.join(good, "small"))
    manifest = open(os.path.join(good, "small.manifest.xml")).read()
    unbundle = "image unbundle -m {case} -s {good} -d {dest} -k {keys}/cloud-pk.pem"
    for name, mutate, expect in MANIFEST_CASES:
        rel = f"manifests/{name}.manifest.xml"
        write(os.path.join(HERE, rel), mutate(manifest))
        rows.append((rel, unbundle, expect))
    # parts gone bad, each in a directory of its own beside an untouched manifest
    for name, expect, spoil in [
            ("truncated-part", "small.part.01", lambda d: _truncate(os.path.join(d, "small.part.01"), 5000)),
            ("flipped-byte", "small.part.02", lambda d: _flip(os.path.join(d, "small.part.02"))),
            ("missing-part", "small.part.02", lambda d: os.unlink(os.path.join(d, "small.part.02"))),
            ("empty-part", "small.part.00", lambda d: _truncate(os.path.join(d, "small.part.00"), 0)),
            ("part-is-directory", "not a regular file", lambda d: (os.unlink(os.path.join(d, "small.part.01")),
                                                              os.mkdir(os.path.join(d, "small.part.01")),
                                                              # git keeps no empty directory: give it a file
                                                              write(os.path.join(d, "small.part.01", "keep"), ""))),
            ("part-symlink-out", "not a regular file", lambda d: (os.unlink(os.path.join(d, "small.part.01")),
                                                             os.symlink("/etc/passwd", os.path.join(d, "small.part.01")))),
            ("appended-bytes", "small.part.02", lambda d: open(os.path.join(d, "small.part.02"), "ab").write(b"x" * 99)),
    ]:
        rel = f"manifests/bundle-{name}"
        case_dir = os.path.join(HERE, rel)
        shutil.copytree(good, case_dir)
        spoil(case_dir)
        rows.append((rel + "/small.manifest.xml",
                     "image unbundle -m {case} -s " + os.path.join("{bad}", rel) + " -d {dest} -k {keys}/cloud-pk.pem",
                     expect))
    cli_case = os.path.join(HERE, "cli", "not-a-scenario.yaml")
    write(cli_case, "just words\n")
    for name, args, expect in CLI:
        rows.append(("cli/not-a-scenario.yaml", args, expect, name))
    with open(os.path.join(HERE, "cases.tsv"), "w", encoding="utf-8") as fh:
        fh.write("# case file\tnc-harness arguments\ta piece of the one-line error\t(name, for CLI cases)\n")
        for row in rows:
            fh.write("\t".join(row) + "\n")
    print(f"{len(rows)} cases")
    return 0


def _truncate(path: str, size: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(size)


def _flip(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))


if __name__ == "__main__":
    sys.exit(main())
