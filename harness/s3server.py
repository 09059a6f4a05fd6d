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

    def start(self) -> "S3Server":
        from moto.server import ThreadedMotoServer
        logging.getLogger("werkzeug").setLevel(logging.ERROR)   # no request log lines on our output
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto keeps its buckets in process-wide state: a new server starts empty, as a seeded run needs
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"),  # noqa: S310
                               timeout=10).read()
        # moto accepts any credentials; boto3 needs some to sign with
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "nc-harness")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "nc-harness-secret")
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
