"""A real one-node Slurm cluster for the launcher tests: Debian's slurm-wlm and munge (installed
when missing), munged, slurmctld and slurmd as root, state and logs in a temporary folder."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ('slurm-wlm', 'munge')


def ensure_installed():
    if shutil.which('slurmctld') and shutil.which('munged'):
        return
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.run(['apt-get', 'update', '-qq'], check=True, env=env, capture_output=True)
    subprocess.run(['apt-get', 'install', '-y', '-qq', *PACKAGES], check=True, env=env, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class SlurmCluster:
    def __init__(self, root):
        self.root = Path(root)
        self.host = socket.gethostname()
        self.conf = self.root / 'slurm.conf'
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.processes = []

    def write_config(self):
        for folder in ('state', 'spool', 'munge'):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 2
        self.conf.write_text(f"""ClusterName=internimage-ci
SlurmctldHost={self.host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.root / 'munge' / 'munge.socket'}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmdSpoolDir={self.root}/spool
StateSaveLocation={self.root}/state
SlurmctldLogFile={self.root}/slurmctld.log
SlurmdLogFile={self.root}/slurmd.log
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName={self.host} CPUs={cpus} State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")

    def start(self):
        ensure_installed()
        self.write_config()
        socket_path = self.root / 'munge' / 'munge.socket'
        key = Path('/etc/munge/munge.key')
        if not key.exists():
            subprocess.run(['mungekey', '--create', '--keyfile', str(key)], check=True, capture_output=True)
        self.processes.append(subprocess.Popen(
            ['munged', '--foreground', '--force', f'--socket={socket_path}', f'--pid-file={self.root}/munged.pid',
             f'--log-file={self.root}/munged.log', f'--seed-file={self.root}/munge.seed'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self._wait(lambda: socket_path.exists(), 'munged socket')
        for daemon in ('slurmctld', 'slurmd'):
            self.processes.append(subprocess.Popen([daemon, '-D'], env=self.env, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
        self._wait(self._node_ready, 'an idle Slurm node')
        return self

    def _node_ready(self):
        out = subprocess.run(['sinfo', '-h', '-o', '%t'], env=self.env, capture_output=True, text=True).stdout
        return 'idle' in out or 'mix' in out

    def _wait(self, ready, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.5)
        logs = '\n'.join(f'{p.name}:\n{p.read_text()[-1500:]}' for p in self.root.glob('*.log'))
        raise RuntimeError(f'timed out waiting for {what}\n{logs}')

    def stop(self):
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
