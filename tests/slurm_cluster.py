"""A real one-node Slurm cluster for the tests: its own munged, slurmctld and slurmd on loopback
ports, configured in a fresh directory (Debian's slurm-wlm and munge, installed by
scripts/install-system-packages), and stopped afterwards. Clients find it through SLURM_CONF."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.helpers import alive, wait_until
from tests.postgres import free_port

SLURM_CONF = """ClusterName=hpsearch-tests
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmdPort={node_port}
AuthType=auth/munge
AuthInfo=socket={directory}/munge.socket
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={directory}/state
SlurmdSpoolDir={directory}/spool
SlurmctldPidFile={directory}/slurmctld.pid
SlurmdPidFile={directory}/slurmd.pid
SlurmctldLogFile={directory}/slurmctld.log
SlurmdLogFile={directory}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """One node of `cpus` CPUs (each task takes one), as an administrator would run it, in a
    directory of its own: nothing of the machine's own Slurm or munge is used or touched."""

    def __init__(self, cpus: int = 2) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="slurm"))  # short: munge's socket path
        self.conf = self.directory / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        key = self.directory / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.directory.chmod(0o700)
        self.conf.write_text(SLURM_CONF.format(
            host=socket.gethostname(), controller_port=free_port(), node_port=free_port(),
            directory=self.directory, user=getpass.getuser(), cpus=cpus))
        for path in ("state", "spool"):
            (self.directory / path).mkdir()
        try:
            self._start(["munged", "--force", f"--socket={self.directory}/munge.socket", f"--key-file={key}",
                         f"--pid-file={self.directory}/munged.pid", f"--log-file={self.directory}/munged.log",
                         f"--seed-file={self.directory}/munge.seed"])
            self._start(["slurmctld", "-f", str(self.conf)])
            self._start(["slurmd", "-f", str(self.conf)])
            wait_until(self._idle, 60, "the Slurm node to come up")
        except BaseException:
            self.close()
            raise

    def _start(self, command: list[str]) -> None:
        """Start a daemon (it forks into the background and writes its pid file); daemons live in
        /usr/sbin, which a user's PATH may leave out."""
        daemon = shutil.which(command[0]) or shutil.which(command[0], path="/usr/sbin:/sbin") or command[0]
        done = subprocess.run([daemon, *command[1:]], capture_output=True, text=True,
                              env={**os.environ, **self.env}, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed to start: {done.stderr or done.stdout}")

    def _idle(self) -> bool:
        listed = self.command("sinfo", "--noheader", "--format=%t")
        return listed.returncode == 0 and listed.stdout.strip() == "idle"

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **self.env}, timeout=60)

    def close(self) -> None:
        """Cancel every job, then stop the daemons (SIGTERM, then SIGKILL) and remove the directory."""
        self.command("scancel", "--full", "--user", getpass.getuser())
        for daemon in ("slurmd", "slurmctld", "munged"):
            pid_file = self.directory / f"{daemon}.pid"
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text().strip())
            for sent in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.kill(pid, sent)
                    wait_until(lambda: not alive(pid), 30, f"{daemon} to stop")
                    break
                except ProcessLookupError:
                    break
                except AssertionError:
                    if sent == signal.SIGKILL:
                        raise
        shutil.rmtree(self.directory, ignore_errors=True)
