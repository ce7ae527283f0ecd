"""A real Milvus standalone server (PyPI's ``milvus`` package, Milvus 2.3.5) on loopback.

It takes about 10-15 s to start and keeps a couple of threads busy, so the suite starts it once
per session (see the ``milvus_server`` fixture in test_milvus_engine.py).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from _net import free_port

milvus = pytest.importorskip("milvus", reason="needs the milvus package (pip install milvus)")


class _LoopbackConfig(milvus.MilvusServerConfig):
    """Port checks that allow SO_REUSEADDR: after a kill -9 the old sockets linger in TIME_WAIT,
    which would otherwise stop the restart from reusing the port its clients know."""

    def try_bind_port(self, port: int) -> socket.socket | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            return sock
        except OSError:
            sock.close()
            return None


class MilvusProcess:
    """One Milvus server with its data in ``data_dir``; it can be killed and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.server: milvus.MilvusServer | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = _LoopbackConfig(data_dir=str(self.data_dir), proxy_port=self.port)
        # A restarted Milvus waits for the killed one's etcd sessions to expire (30 s by default)
        # before it serves the collections again; a short lease keeps the crash test quick.
        config.set("common.session.ttl", 5)
        self.server = milvus.MilvusServer(config)
        self.server.start()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: no chance to flush anything."""
        assert self.server is not None and self.server.server_proc is not None
        self.server.server_proc.kill()
        self.server.server_proc.wait()
        self.server.server_proc = None
        self.server.stop()  # closes its log files

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
