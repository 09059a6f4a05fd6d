"""`ssh://user@host[:port]`: any reachable node, through pytest-testinfra's paramiko backend.

argv becomes one command line with every word quoted (shlex.quote), so no id or path is ever parsed by the
remote shell; stdin travels base64-encoded in front of it."""
from __future__ import annotations

import base64
import shlex
from urllib.parse import urlparse

from harness.backends.realnode import RealNodeHost
from hostapi import Capability, CommandResult


def remote_line(argv: list[str], stdin: str | None = None) -> str:
    """The one line the remote shell parses: every word quoted, stdin as base64 (only [A-Za-z0-9+/=])."""
    line = shlex.join(list(argv))
    if stdin is not None:
        data = base64.b64encode(stdin.encode("utf-8", "surrogateescape")).decode()
        line = f"printf %s {data} | base64 -d | {line}"
    return line


class SshHost(RealNodeHost):
    name = "ssh"
    # a paramiko channel per command: the engine's build workers' commands overlap on the node
    capabilities = frozenset({Capability.CONCURRENT})

    def __init__(self, spec: str, identity_file: str | None = None):
        super().__init__()
        url = urlparse(spec)
        if url.scheme != "ssh" or not url.hostname:
            raise ValueError(f"bad ssh backend '{spec}': use ssh://user@host[:port]")
        self.node = None
        self.spec = spec
        self._connect(f"paramiko://{url.username or 'root'}@{url.hostname}:{url.port or 22}",
                      ssh_identity_file=identity_file)

    def _connect(self, target: str, **options) -> None:
        import warnings

        import testinfra
        # paramiko warns about every new host key; real nodes here are fresh VMs with fresh keys
        warnings.filterwarnings("ignore", message="Unknown .* host key", category=UserWarning)
        self.remote = testinfra.get_host(target, **options)

    def run_raw(self, argv, stdin=None):
        out = self.remote.run(remote_line(argv, stdin))
        # bytes as they came (a disk read off the node is binary), in the interface's surrogateescape form
        return CommandResult(out.rc, out.stdout_bytes.decode("utf-8", "surrogateescape"),
                             out.stderr_bytes.decode("utf-8", "surrogateescape"))
