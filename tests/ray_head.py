"""A real local Ray cluster for the tests and benchmarks: `ray start --head`, stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import wait_until
from tests.postgres import free_port

# Ray Client's proxy forks a server for each client from a process full of gRPC threads, and with
# gRPC's fork handlers on, the child often aborts before it execs (ray-project/ray#63202: the
# driver sees "Initialization failure from server", the server's log is empty; here about one
# connection in three). Without the handlers the child just execs: 20 of 20 connected. The proxy
# also gets 180 s, not 30, for a server to come up on two loaded cores. README "Ray" says the
# same to users who run a cluster for Ray Client.
CLUSTER_SETTINGS = {"GRPC_ENABLE_FORK_SUPPORT": "false", "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180"}

RAY = Path(sys.executable).with_name("ray")


class RayHead:
    """A Ray head node with `cpus` CPUs and `gpus` logical GPUs (real placement, no GPU needed),
    started as a user starts one. It runs in a session of its own (`ray start --block`), so that
    all its processes, and only they, are stopped by `close` (`ray stop` would stop every Ray on
    the machine). `env` reaches the actors, as a cluster's environment would."""

    def __init__(self, cpus: int, gpus: int = 0, env: dict[str, str] | None = None) -> None:
        port, client_port = free_port(), free_port()
        self.address = f"127.0.0.1:{port}"
        self.client_address = f"ray://127.0.0.1:{client_port}"  # Ray Client, for drivers off the cluster
        directory = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 bytes
        self.log = Path(directory) / "ray-start.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(RAY), "start", "--head", "--block", "--num-cpus", str(cpus), "--num-gpus", str(gpus),
                 "--port", str(port), "--ray-client-server-port", str(client_port), "--temp-dir", directory, "--include-dashboard=false",
                 "--disable-usage-stats"],
                env={**os.environ, **CLUSTER_SETTINGS, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            wait_until(lambda: "Ray runtime started" in self.log.read_text() or self.process.poll() is not None,
                       180, "`ray start --head` to start the cluster")
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start failed:\n{self.log.read_text()}")
        except BaseException:
            self.close()
            raise

    def _left(self) -> bool:
        self.process.poll()  # reaped, not a zombie of the session
        return subprocess.run(["pgrep", "-s", str(self.process.pid)], capture_output=True).returncode == 0

    def close(self) -> None:
        """SIGTERM every process of the session, then SIGKILL what is left after a grace period."""
        for sent in (signal.SIGTERM, signal.SIGKILL):
            subprocess.run(["pkill", f"-{sent.name.removeprefix('SIG')}", "-s", str(self.process.pid)], check=False)
            try:
                wait_until(lambda: not self._left(), 30, "the Ray cluster to stop")
                return
            except AssertionError:
                if sent == signal.SIGKILL:
                    raise
