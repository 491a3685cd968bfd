"""A one-node SLURM cluster on localhost for the tests: Debian's slurm-wlm and munge, started by hand (no
systemd, no cgroups, no accounting database) and stopped by their PID files.

`start(folder)` installs the packages where apt and root are there, writes slurm.conf into `folder`, starts
munged, slurmctld and slurmd, and waits for an idle node; it returns the environment (SLURM_CONF) the
commands need, or raises `Unavailable` with the reason. `stop(folder)` stops every daemon it started.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

PACKAGES = ('slurm-wlm', 'munge')


class Unavailable(Exception):
    "This machine cannot run the test cluster (the reason is the message)."


def run(*command, **kwargs):
    return subprocess.run(
        command, capture_output=True, text=True, timeout=kwargs.pop('timeout', 120), **kwargs
    )


def install():
    "slurm-wlm and munge from apt, when they are missing."
    if shutil.which('slurmctld') and shutil.which('munged'):
        return
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        raise Unavailable('slurm-wlm is not installed and apt-get as root is not available to install it')
    done = run(
        'apt-get',
        'install',
        '-y',
        '-q',
        *PACKAGES,
        timeout=600,
        env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'),
    )
    if done.returncode != 0:
        raise Unavailable(f'apt-get install {" ".join(PACKAGES)} failed: {done.stderr[-300:]}')


def slurm_conf(folder: Path) -> str:
    "slurm.conf for one node, localhost, with this machine's CPUs and memory."
    found = run('slurmd', '-C').stdout
    fields = dict(part.split('=', 1) for part in found.split() if '=' in part)
    return f"""ClusterName=coursekit
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MpiDefault=none
NodeName=localhost CPUs={fields.get('CPUs', 1)} RealMemory={fields.get('RealMemory', 1000)} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def start_munge(folder: Path):
    "munged as the munge user, with a key of its own if the package made none."
    key = Path('/etc/munge/munge.key')
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
        shutil.chown(key, 'munge', 'munge')
        key.chmod(0o400)
    Path('/run/munge').mkdir(parents=True, exist_ok=True)
    shutil.chown('/run/munge', 'munge', 'munge')
    pid = Path('/run/munge/munged.pid')
    if pid.exists() and Path(f'/proc/{pid.read_text().strip()}').exists():
        return  # already running
    done = run('runuser', '-u', 'munge', '--', 'munged', '--force')
    if done.returncode != 0:
        raise Unavailable(f'munged did not start: {done.stderr[-300:]}')
    (folder / 'started-munged').write_text(pid.read_text() if pid.exists() else '')


def start(folder: Path) -> dict:
    "Start the cluster; the environment variables its commands need."
    if os.geteuid() != 0:
        raise Unavailable('the test cluster runs its daemons as root, and these tests do not run as root')
    install()
    folder = Path(folder)
    for part in ('state', 'spool'):
        (folder / part).mkdir(parents=True, exist_ok=True)
    conf = folder / 'slurm.conf'
    conf.write_text(slurm_conf(folder))
    env = dict(os.environ, SLURM_CONF=str(conf))
    start_munge(folder)
    for daemon in (['slurmctld', '-c'], ['slurmd', '-N', 'localhost']):
        done = run(*daemon, env=env)
        if done.returncode != 0:
            stop(folder)
            raise Unavailable(f'{daemon[0]} did not start: {done.stderr[-300:]}')
    deadline = time.time() + 60
    while time.time() < deadline:
        state = run('sinfo', '-h', '-o', '%t', env=env).stdout.strip()
        if state == 'idle':
            return {'SLURM_CONF': str(conf)}
        time.sleep(1)
    stop(folder)
    raise Unavailable(f'the node did not become idle in 60 s (state {state!r})')


def stop(folder: Path):
    "Stop slurmd, slurmctld and (if this module started it) munged, by their PID files."
    folder = Path(folder)
    pids = [folder / 'slurmd.pid', folder / 'slurmctld.pid']
    if (folder / 'started-munged').exists():
        pids.append(Path('/run/munge/munged.pid'))
    for pid_file in pids:
        if pid_file.exists():
            pid = int(pid_file.read_text().strip() or 0)
            if pid:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
    time.sleep(1)
