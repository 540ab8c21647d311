#!/usr/bin/env python3
"""A real one-node SLURM cluster on this machine, for the `slurm` tests (and by hand):

    python tests/cluster/slurm_cluster.py up      # install if missing, configure, start, wait for an idle node
    python tests/cluster/slurm_cluster.py status  # the node's state, or why the cluster cannot run here
    python tests/cluster/slurm_cluster.py down    # stop the daemons by their pids

Debian's packages (slurm-wlm 22.05, slurmdbd + MariaDB for sacct, munge), run as plain background processes (no
systemd), configured in a state folder (default /tmp/goldenlayers-slurm, or $GOLDENLAYERS_SLURM_STATE). Clients and
daemons find the configuration through SLURM_CONF=<state>/slurm.conf, and /etc/slurm/slurm.conf links to it while
the cluster runs (srun inside a job reads only that path; an existing configuration there is never replaced);
munge and the daemons' ports (6817-6819) are global, so there is one such cluster per machine. `up` twice reuses a
running cluster; `up` after a crash first stops what the state folder's pid files name. What it is used for:
docs/reliability.md ("On a SLURM cluster").
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATE = Path(os.environ.get("GOLDENLAYERS_SLURM_STATE", Path(tempfile.gettempdir()) / "goldenlayers-slurm"))
CLUSTER = "goldenlayers"
PARTITION = "main"
# Preemption (tests/cluster/test_slurm.py): a job in HIGH preempts jobs in PREEMPTIBLE, which SLURM requeues under the
# same job id; `main`, the default partition of the other tests, is never preempted.
PREEMPTIBLE = "preemptible"
HIGH = "high"
# The node's memory: realistic for the 24 GiB machines the project runs on, so that a job asking for the old fixed
# 48 GB is refused as it would be on a 16 GB node. The node must not declare more than the machine has (drained).
NODE_MEM_MB = int(os.environ.get("GOLDENLAYERS_SLURM_MEM_MB", "16000"))
PACKAGES = ["slurm-wlm", "slurmdbd", "slurm-wlm-mysql-plugin", "munge", "mariadb-server"]
BINARIES = ["slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "sbatch", "sacct", "sacctmgr"]
DB_PASSWORD = "goldenlayers-test"  # a throwaway database bound to 127.0.0.1, for this test cluster only
SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def env() -> dict[str, str]:
    """The environment every SLURM client needs to reach this cluster (sbatch, sacct, snakemake's plugin)."""
    return {**os.environ, "SLURM_CONF": str(STATE / "slurm.conf")}


def why_not_here() -> str | None:
    """One line saying why this machine cannot host the cluster, or None when it can."""
    if platform.system() != "Linux":
        return f"SLURM harness needs Linux (this is {platform.system()})"
    if os.geteuid() != 0:
        return "SLURM harness needs root (it installs packages and starts the daemons)"
    osr = Path("/etc/os-release")
    text = osr.read_text() if osr.exists() else ""
    if "ID=debian" not in text and "ID_LIKE=debian" not in text:
        return "SLURM harness needs Debian (it installs Debian's slurm-wlm packages)"
    if not all(_which(b) for b in BINARIES) and not shutil.which("apt-get"):
        return "SLURM harness needs apt-get to install slurm-wlm, slurmdbd, munge and mariadb-server"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([*SBIN, os.environ.get("PATH", "")]))


def install() -> None:
    """apt-get update once, then install what is missing (policy-rc.d or no systemd: nothing starts by itself)."""
    if all(_which(b) for b in BINARIES):
        return
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=apt_env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES], check=True,
                   env=apt_env, stdout=subprocess.DEVNULL)


def _pid(name: str) -> int | None:
    # mariadbd runs as mysql and writes its pid file in run/, which it owns
    path = STATE / f"{name}.pid" if (STATE / f"{name}.pid").exists() else STATE / "run" / f"{name}.pid"
    try:
        pid = int(path.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def _node_line() -> str:
    """`slurmd -C`'s node description with our RealMemory (CPUs, sockets and cores must match the machine)."""
    line = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    fields = [f for f in line.split() if not f.startswith("RealMemory=")]
    return " ".join([*fields, f"RealMemory={NODE_MEM_MB}", "State=UNKNOWN"])


# Inside a job, srun finds its configuration only at the compiled-in path (the plugin drops SLURM_* variables from
# the job's environment), so that path is a link to ours while the cluster runs.
ETC_CONF = Path("/etc/slurm/slurm.conf")


def link_etc_conf() -> None:
    if ETC_CONF.is_symlink() and os.readlink(ETC_CONF) == str(STATE / "slurm.conf"):
        return
    if ETC_CONF.exists() or ETC_CONF.is_symlink():
        raise RuntimeError(f"SLURM harness: {ETC_CONF} exists and is not ours: this machine has its own SLURM "
                           "configuration, which the test cluster would replace")
    ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
    ETC_CONF.symlink_to(STATE / "slurm.conf")


def unlink_etc_conf() -> None:
    if ETC_CONF.is_symlink() and os.readlink(ETC_CONF) == str(STATE / "slurm.conf"):
        ETC_CONF.unlink()


def write_configs() -> None:
    for sub in ("ctld", "spool", "log", "db", "run"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    host = platform.node().split(".")[0]
    (STATE / "slurm.conf").write_text(f"""\
ClusterName={CLUSTER}
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={STATE}/ctld
SlurmdSpoolDir={STATE}/spool
SlurmctldPidFile={STATE}/slurmctld.pid
SlurmdPidFile={STATE}/slurmd.pid
SlurmctldLogFile={STATE}/log/slurmctld.log
SlurmdLogFile={STATE}/log/slurmd.log
# no cgroups here: processes are tracked by pid, nothing enforces --mem (this cluster tests scheduling, not OOM)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job that gives no --mem takes the whole node
DefMemPerCPU=1000
MpiDefault=none
MailProg=/bin/true
# a node that stopped answering comes back when its slurmd registers again; one an admin set DOWN (the node-failure
# test) stays down until `scontrol update ... state=resume`, as on most clusters (2 would undo that at once)
ReturnToService=1
# a killed job's processes get SIGKILL 2 s after SIGTERM (default 30 s): the kill tests wait for it
KillWait=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# sacct shows the rule name (the plugin passes it as --comment)
AccountingStoreFlags=job_comment
MinJobAge=300
# a requeued job (preempted, or its node went down) may start again this many seconds later (default 120)
AuthInfo=cred_expire=10
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
{_node_line()}
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=OFF
PartitionName={PREEMPTIBLE} Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName={HIGH} Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
""")
    dbd = STATE / "slurmdbd.conf"
    dbd.write_text(f"""\
DbdHost=localhost
SlurmUser=root
PidFile={STATE}/slurmdbd.pid
LogFile={STATE}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass={DB_PASSWORD}
StorageLoc=slurm_acct_db
""")
    dbd.chmod(0o600)  # slurmdbd refuses a readable config (it holds the password)


def _start(name: str, cmd: list[str], user: str | None = None) -> None:
    """Start a daemon in the background (its own session, so a test's Ctrl-C does not reach it)."""
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    log = open(STATE / "log" / f"{name}.out", "ab")
    subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, env=env())


def _wait(what: str, check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    logs = "; ".join(f"{p.name}: {p.read_text(errors='replace')[-400:]!r}" for p in sorted((STATE / "log").glob("*"))
                     if p.stat().st_size)
    raise RuntimeError(f"SLURM harness: {what} not ready after {timeout:.0f} s (logs in {STATE}/log: {logs[-1500:]})")


def _ok(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True, env=env()).returncode == 0


def start_munge() -> None:
    if _ok([_which("munge"), "-n"]):
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    _start("munged", [_which("munged"), "--force"], user="munge")
    _wait("munged", lambda: _ok([_which("munge"), "-n"]))


def start_mariadb() -> None:
    sock = STATE / "run" / "mysqld.sock"
    datadir = STATE / "db"
    if not (datadir / "mysql").exists():
        shutil.chown(datadir, "mysql", "mysql")
        subprocess.run([_which("mariadb-install-db"), "--user=mysql", f"--datadir={datadir}",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True)
    shutil.chown(STATE / "run", "mysql", "mysql")
    _start("mariadbd", [_which("mariadbd"), "--user=mysql", f"--datadir={datadir}", f"--socket={sock}",
                        "--bind-address=127.0.0.1", "--port=3306", f"--pid-file={STATE}/run/mariadbd.pid",
                        "--skip-log-bin", "--innodb-buffer-pool-size=32M"])
    mariadb = [_which("mariadb"), f"--socket={sock}", "-u", "root"]
    _wait("mariadbd", lambda: _ok([*mariadb, "-e", "SELECT 1"]))
    sql = (f"CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '{DB_PASSWORD}';"
           f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
           "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
    subprocess.run([*mariadb, "-e", sql], check=True, capture_output=True)


def node_state() -> str:
    # one line per partition the node is in: ask for one partition
    run = subprocess.run([_which("sinfo"), "-h", "-N", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True,
                         env=env())
    return run.stdout.strip() if run.returncode == 0 else ""


def node_name() -> str:
    return subprocess.run([_which("sinfo"), "-h", "-N", "-p", PARTITION, "-o", "%N"], capture_output=True, text=True,
                          env=env(), check=True).stdout.strip()


def set_node_state(state: str, reason: str = "") -> None:
    """`scontrol update nodename=<the node> state=<state>` (down needs a reason; resume brings it back)."""
    cmd = [_which("scontrol"), "update", f"nodename={node_name()}", f"state={state}"]
    subprocess.run([*cmd, f"reason={reason}"] if reason else cmd, check=True, capture_output=True, env=env())


def running() -> bool:
    return all(_pid(n) for n in ("slurmdbd", "slurmctld", "slurmd")) and node_state() in ("idle", "mixed",
                                                                                           "allocated")


def up() -> float:
    """Bring the cluster up (or reuse a running one); the seconds it took."""
    t0 = time.monotonic()
    reason = why_not_here()
    if reason:
        raise RuntimeError(reason)
    if STATE.exists() and running():
        return time.monotonic() - t0
    down()  # whatever a crashed run left behind (by pid), so the ports are free
    install()
    write_configs()
    link_etc_conf()
    start_munge()
    start_mariadb()
    _start("slurmdbd", [_which("slurmdbd")])
    _wait("slurmdbd", lambda: _pid("slurmdbd") and _ok([_which("sacctmgr"), "-n", "list", "cluster"]))
    if CLUSTER not in subprocess.run([_which("sacctmgr"), "-n", "-P", "list", "cluster", "format=cluster"],
                                     capture_output=True, text=True, env=env()).stdout.split():
        subprocess.run([_which("sacctmgr"), "-i", "add", "cluster", CLUSTER], check=True, capture_output=True,
                       env=env())
    # -i: ignore state saved by an earlier run (its jobs and node states are gone with its processes)
    _start("slurmctld", [_which("slurmctld"), "-i"])
    _start("slurmd", [_which("slurmd")])
    _wait("the node", lambda: node_state() == "idle")
    return time.monotonic() - t0


def _stop_pid(name: str, timeout: float = 20) -> None:
    pid = _pid(name)
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # a daemon this process started stays a zombie until it is reaped: reap it, or see that it is gone
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def down() -> None:
    """Stop the daemons this harness started, each by the pid file it wrote, in reverse order of start."""
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd"):
        _stop_pid(name)
    # munged writes its pid under /run/munge; it is ours when we started it (runuser leaves no other trace)
    munge_pid = Path("/run/munge/munged.pid")
    if munge_pid.exists() and (STATE / "log" / "munged.out").exists():
        try:
            pid = int(munge_pid.read_text().split()[0])
            (STATE / "munged.pid").write_text(str(pid))
            _stop_pid("munged")
        except (OSError, ValueError, IndexError):
            pass
    unlink_etc_conf()


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        print(f"SLURM cluster up in {up():.1f} s (state {STATE}; export SLURM_CONF={STATE}/slurm.conf)")
    elif cmd == "down":
        down()
        print("SLURM cluster stopped")
    elif cmd == "status":
        reason = why_not_here()
        print(reason or f"node: {node_state() or 'not running'} (SLURM_CONF={STATE}/slurm.conf)")
    else:
        print(f"usage: {argv[0]} up|down|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
