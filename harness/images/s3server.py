"""The project's own S3-protocol server for tests and the main job: moto's server mode on loopback, started and
stopped by us. Any other endpoint (MinIO, Ceph RGW, AWS, Eucalyptus OSG) is used by setting NC_S3_ENDPOINT."""
from __future__ import annotations

import logging
import os


class S3Server:
    def __init__(self, port: int = 0):
        self.port = port
        self.server = None
        self.endpoint = ""
        self.pid = 0

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.ERROR)   # no request log lines on our output
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto keeps its buckets in process-wide state: a new server starts empty, as a seeded run needs
        self.reset()
        # moto accepts any credentials; boto3 needs some to sign with
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "nc-harness")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "nc-harness-secret")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def reset(self) -> None:
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"),  # noqa: S310
                               timeout=10).read()

    _shared: S3Server | None = None

    @classmethod
    def shared(cls) -> S3Server:
        """One server per process, emptied for each user: starting and stopping one per scenario run cost half
        a second, most of a fault sweep's time over bundle-instance."""
        # a forked sweep worker inherits the parent's object, not its server thread: a process of its own
        if cls._shared is None or cls._shared.server is None or cls._shared.pid != os.getpid():
            import atexit
            cls._shared = cls().start()
            cls._shared.pid = os.getpid()
            atexit.register(cls._shared.stop)
        else:
            cls._shared.reset()
        return cls._shared

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
