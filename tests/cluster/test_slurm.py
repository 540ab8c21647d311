"""The workflow on a real one-node SLURM cluster, through snakemake-executor-plugin-slurm and the repository's own
profile (--workflow-profile workflow/profiles/slurm), on the tiny model and data of tests/helpers.py.

One module-scoped project is shared by the tests to keep the SLURM job count low (each job costs a few seconds):
`--until score_lga` first, then the default target (compared with a local run of the same config), then a killed
sweep job, a job that fails for a reason more memory cannot fix, and a job the scheduler refuses; then, in copies of
the finished project, a sweep job preempted by a higher-priority partition and one whose node goes down, each
stopped at a known row by the `sweep_row` fault point (src/goldenlayers/faults.py). Every Snakemake call runs under
a timeout: plugin 2.8.0 waits forever on a job SLURM reports as "CANCELLED by 0".
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import slurm_cluster as cluster
from helpers import TINY_RECORDS, write_tiny_project

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
# columns that hold wall times (or ratios of them: Figure 3's speedup) or dates: the only ones allowed to differ
# between a local and a SLURM run
TIMING = re.compile(r"time|seconds|wall|_s$|date|duration|speedup", re.I)
SWEEP = "results/tiny/toy/sweep/r-rome/layer_{}.parquet"
# the tests' only change to the profile: the first status check 2 s after submission instead of its 10 s
FAST = ["--slurm-init-seconds-before-status-checks", "2"]
TIMES: dict[str, float] = {}
# every Snakemake started in the background, killed with its children if a test ends before it did
STARTED: list[subprocess.Popen] = []


@pytest.fixture(scope="session")
def slurm():
    """The session's cluster (tests/cluster/slurm_cluster.py): brought up once, stopped at the end of the session.
    Where it cannot run (not root, not Debian, no apt-get) the tests skip with the reason; under CI=true they fail
    instead, since a CI run that skipped them has tested nothing."""
    reason = cluster.why_not_here()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so the slurm tests may not be skipped")
        pytest.skip(reason)
    t0 = time.monotonic()
    try:
        cluster.up()
        yield {"env": cluster.env(), "bring_up_s": time.monotonic() - t0, "node_mem_mb": cluster.NODE_MEM_MB}
    finally:
        cluster.down()


def tiny_slurm_project(root: Path) -> Path:
    """The workflow tests' tiny project, made small for a cluster: one dataset, 2 layers, no fluency/sequential."""
    config = write_tiny_project(root)
    cfg = yaml.safe_load(config.read_text())
    cfg["datasets"] = {"toy": cfg["datasets"]["toy"]}
    # two grid layers: one round of sweep jobs on the 2-CPU node (LGA's choice, layer 0, is in the grid)
    cfg.update({"layers": [0, 2], "fluency": False, "sequential": {"enabled": False, "n_edits": 2, "seed": 42},
                "resampling": {"draws": 20, "curve_draws": 5, "proxy_sizes": [1, 2, 3], "seed": 1},
                # verify checks LGA's pick alone: a shortlist of 3 would add layer 1 to the sweeps (a third job)
                "selector_params": {"shortlist_k": 1}})
    config.write_text(yaml.safe_dump(cfg))
    return config


def run_snakemake(root: Path, config: Path, *args: str, env: dict | None = None, slurm: bool = True,
                  timeout: float = 600, background: bool = False):
    """snakemake on `root` through the real profile (slurm=True) or locally, in its own process group, killed with
    its children when `timeout` passes (then the test fails saying so)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(config)]
    cmd += ["--workflow-profile", str(PROFILE), *FAST] if slurm else ["--cores", "2"]
    proc = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**(env or os.environ), "PYTHONPATH": str(REPO / "src")}, start_new_session=True)
    proc.timeout = timeout
    STARTED.append(proc)
    return proc if background else finish(proc)


def finish(proc) -> subprocess.CompletedProcess:
    try:
        out, _ = proc.communicate(timeout=proc.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        subprocess.run(["scancel", "--user", "root"], env=proc_env(), capture_output=True)
        pytest.fail(f"snakemake still running after {proc.timeout} s (killed): {' '.join(proc.args[3:])}\n"
                    f"{out[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def proc_env() -> dict:
    return cluster.env()


def sacct(since: str, env: dict) -> list[dict]:
    """The SLURM jobs (not steps) started since `since`: id, rule (the plugin's --comment), state, memory, time."""
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-S", since, "-o",
                          "JobID,Comment,State,ReqMem,Timelimit,WorkDir"],
                         env=env, capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        jobid, rule, state, mem, limit, workdir = line.split("|")
        # the plugin's comment is rule_<rule>_wildcards_<values>
        rule = re.sub(r"^rule_|_wildcards_.*$", "", rule)
        jobs.append({"id": jobid, "rule": rule, "state": state.split()[0], "mem_mb": int(re.sub(r"\D", "", mem)),
                     "limit": limit, "workdir": workdir})
    return jobs


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def table_frames(results: Path) -> dict[str, pd.DataFrame]:
    """Every table of the run and the per-layer sweeps, timing columns dropped."""
    files = sorted((results / "report/tiny").glob("*.csv")) + sorted((results / "tiny/toy/sweep").rglob("*.parquet"))
    frames = {}
    for path in files:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        frames[str(path.relative_to(results))] = frame[[c for c in frame.columns if not TIMING.search(str(c))]]
    return frames


@pytest.fixture(scope="module", autouse=True)
def no_leftover_runs():
    yield
    left = [proc for proc in STARTED if proc.poll() is None]
    for proc in left:
        os.killpg(proc.pid, signal.SIGKILL)
    if left:  # their SLURM jobs too (a sweep paused at a fault point would wait there for minutes)
        subprocess.run(["scancel", "--user", "root"], env=proc_env(), capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory, slurm):
    """The tiny project run on the cluster (--until score_lga, then the default target) and locally."""
    env = slurm["env"]
    root = tmp_path_factory.mktemp("slurm")
    config = tiny_slurm_project(root)
    local = tmp_path_factory.mktemp("local")
    shutil.copy(config, local / "config.yaml")

    # the local run of the same config, beside the cluster runs (those mostly wait for SLURM)
    t_local = time.monotonic()
    local_proc = run_snakemake(local, local / "config.yaml", slurm=False, timeout=1200, background=True)
    t0, start = time.monotonic(), now()
    until = run_snakemake(root, config, "--until", "score_lga", env=env)
    TIMES["until score_lga"] = time.monotonic() - t0
    until_jobs = sacct(start, env)
    until_state = {"lga": (root / "results/tiny/toy/selection/lga.json").exists(),
                   "sweeps": sorted(str(p) for p in (root / "results").rglob("layer_*.parquet")),
                   "trace": (root / "results/tiny/toy/causal_trace/samples.parquet").exists()}

    t0, start = time.monotonic(), now()
    full = run_snakemake(root, config, env=env, timeout=900)
    TIMES["default target"] = time.monotonic() - t0
    full_jobs = sacct(start, env)

    yield {"root": root, "config": config, "local": local, "env": env, "until": until, "until_jobs": until_jobs,
           "until_state": until_state, "full": full, "full_jobs": full_jobs, "local_proc": local_proc,
           "t_local": t_local, "node_mem_mb": slurm["node_mem_mb"]}
    print(f"\nSLURM bring-up {slurm['bring_up_s']:.1f} s; " + "; ".join(f"{k} {v:.0f} s" for k, v in TIMES.items()))


def test_until_stops_after_the_stage(project):
    """README: `--until score_lga` stops after LGA: the gradients are there, no trace, no sweep."""
    assert project["until"].returncode == 0, project["until"].stdout[-4000:]
    assert project["until_state"] == {"lga": True, "sweeps": [], "trace": False}
    rules = {job["rule"] for job in project["until_jobs"]}
    assert rules == {"prepare_model", "filter_dataset", "extract_gradients"}, project["until_jobs"]


def test_default_target_on_slurm_equals_a_local_run(project):
    full = project["full"]
    assert full.returncode == 0, full.stdout[-4000:]
    local = finish(project["local_proc"])
    TIMES["local run"] = time.monotonic() - project["t_local"]
    assert local.returncode == 0, local.stdout[-4000:]
    jobs = project["full_jobs"]
    # the model-loading rules went through SLURM, each once, with requests the 16 GB node could schedule
    assert sorted(job["rule"] for job in jobs) == sorted(["trace_causal_effects", "generate_templates",
                                                          "resample_splits", *["sweep_layer"] * 2]), jobs
    assert all(job["state"] == "COMPLETED" for job in jobs), jobs
    assert all(job["mem_mb"] <= project["node_mem_mb"] for job in jobs), jobs
    slurm_tables = table_frames(project["root"] / "results")
    local_tables = table_frames(project["local"] / "results")
    assert set(slurm_tables) == set(local_tables) and "report/tiny/table1.csv" in slurm_tables
    for name, frame in local_tables.items():
        pd.testing.assert_frame_equal(slurm_tables[name], frame, obj=name)


def live_sweep_pids(root: Path, layer: int) -> list[int]:
    """Processes of the sweep of `layer` in `root` (the job's own `goldenlayers sweep`), from /proc."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except (OSError, ValueError):
            continue
        if b"sweep" in cmd and SWEEP.format(layer).encode() in cmd and cwd == str(root):
            pids.append(int(proc.name))
    return pids


def kill_a_sweep_job(root: Path, config: Path, env: dict, layer: int) -> dict:
    """README: `snakemake <layer's file> --forcerun sweep_layer` reruns that job alone. Here its first attempt
    waits after its first sample and SLURM kills it at its 1-minute time limit; the run goes on. What it saw: the
    run, its SLURM jobs, the samples done when it was killed."""
    target = root / SWEEP.format(layer)
    partial = target.with_name(target.name + ".partial.jsonl")
    folder = root.parent / "kill-fault"
    start = now()
    # the named fault point `sweep_row` pauses the job after its first saved row (no poll loop racing the edit), so
    # that it outlives its limit; SLURM then ends the job TIMEOUT and kills its processes (SIGKILL after KillWait).
    # (Killing it with scancel ends it "CANCELLED by 0", which plugin 2.8.0 never recognises: that run would hang.)
    # The retry's process pauses at its own first row too: the release file, left once the first one is dead, lets
    # it go on.
    fault = {**env, "GOLDENLAYERS_FAULT": "sweep_row@1:pause", "GOLDENLAYERS_FAULT_DIR": str(folder),
             "GOLDENLAYERS_FAULT_TIMEOUT": "300"}
    proc = run_snakemake(root, config, SWEEP.format(layer), "--set-resources",
                         "sweep_layer:runtime=1 if attempt == 1 else 30", "--forcerun", "sweep_layer", env=fault,
                         background=True)
    wait_for("the sweep job's first saved row", (folder / "sweep_row.reached").exists, proc)
    paused = live_sweep_pids(root, layer)
    done = len(partial.read_text().splitlines()) - 1
    wait_for("the end of the job at its time limit", lambda: not any(map(alive, paused)), proc)
    (folder / "sweep_row.release").touch()
    run = finish(proc)
    return {"run": run, "paused": paused, "done": done, "partial_left": partial.exists(),
            "jobs": [job for job in sacct(start, env) if job["workdir"] == str(root)]}


@pytest.fixture(scope="module")
def faults(project, tmp_path_factory):
    """After the default target: a killed sweep job (in the project), and side by side, in copies of the finished
    project, a sweep job that fails on a bad input and one whose request the node cannot give."""
    assert project["full"].returncode == 0, "the default target failed on the cluster"
    root, env, config = project["root"], project["env"], project["config"]
    copies = {}
    for name in ("broken", "refused"):
        copies[name] = tmp_path_factory.mktemp(name) / "project"
        shutil.copytree(root, copies[name], symlinks=True)
    # a bad input that more memory cannot fix: the sweep's sample set is an empty object (with its old mtime, so
    # that only the forced sweep job runs, not everything downstream of it)
    samples = copies["broken"] / "results/tiny/toy/samples.json"
    stat = samples.stat()
    samples.write_text("{}")
    os.utime(samples, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    t0, start = time.monotonic(), now()
    broken = run_snakemake(copies["broken"], config, SWEEP.format(0), "--forcerun", "sweep_layer", env=env,
                           background=True)
    refused = run_snakemake(copies["refused"], config, SWEEP.format(0), "--set-resources",
                            "sweep_layer:mem_mb=48000", "--forcerun", "sweep_layer", env=env, timeout=180,
                            background=True)
    before = pd.read_parquet(root / SWEEP.format(2))
    killed = kill_a_sweep_job(root, config, env, layer=2)
    broken_run, refused_run = finish(broken), finish(refused)
    TIMES["faults"] = time.monotonic() - t0
    jobs = sacct(start, env)
    return {"killed": killed, "before": before, "broken": broken_run, "refused": refused_run,
            "broken_jobs": [job for job in jobs if job["workdir"] == str(copies["broken"])]}


def test_a_killed_sweep_job_is_retried_and_resumes(project, faults):
    """Killed by the scheduler at its time limit after its first sample, the sweep job is retried with more time
    and memory (within the node), resumes from the finished samples, and the layer's table equals the
    uninterrupted run's; only that layer's job ran."""
    killed = faults["killed"]
    assert killed["run"].returncode == 0, killed["run"].stdout[-4000:]
    assert killed["paused"], "no sweep process was found at its fault point"
    assert [(job["rule"], job["state"]) for job in killed["jobs"]] == [("sweep_layer", "TIMEOUT"),
                                                                       ("sweep_layer", "COMPLETED")], killed["jobs"]
    first, second = killed["jobs"]
    assert (first["limit"], second["limit"]) == ("00:01:00", "00:30:00")
    assert first["mem_mb"] < second["mem_mb"] <= project["node_mem_mb"], killed["jobs"]
    assert killed["done"] == 1  # it paused after its first saved row
    log = (project["root"] / "results/logs/sweep_layer/tiny/toy/r-rome/layer_2.log").read_text()
    assert f"{killed['done']} of {len(TINY_RECORDS)} samples already done" in log, log[-2000:]
    after = pd.read_parquet(project["root"] / SWEEP.format(2))
    keep = [c for c in faults["before"].columns if not TIMING.search(c)]
    pd.testing.assert_frame_equal(after[keep], faults["before"][keep])
    assert not killed["partial_left"]


def test_a_failure_more_memory_cannot_fix_is_not_retried_beyond_the_node(project, faults):
    """A sweep job that fails on a bad input fails on every attempt; the retries may ask for more memory, but never
    more than the node has (the old profile's 48000 * attempt was refused outright), and the run ends."""
    assert faults["broken"].returncode != 0
    attempts = faults["broken_jobs"]
    assert [job["rule"] for job in attempts] == ["sweep_layer"] * 3, attempts  # the profile's retries: 2
    assert [job["state"] for job in attempts] == ["FAILED"] * 3, attempts
    assert all(job["mem_mb"] <= project["node_mem_mb"] for job in attempts), attempts


def test_a_request_the_node_cannot_give_ends_the_run_with_a_message(project, faults):
    """A request above the node (a user's --set-resources) is refused by sbatch; the run ends, naming the rule, the
    request and the node's memory, instead of waiting."""
    run = faults["refused"]
    assert run.returncode != 0
    lines = [line for line in run.stdout.splitlines() if "SLURM refused rule" in line]
    assert lines, run.stdout[-3000:]
    assert "sweep_layer" in lines[0] and "--mem 48000" in lines[0], lines
    assert f"{project['node_mem_mb']} MB" in lines[0], lines


# Preemption and node failure (issue #31, item 7). The sweep job stops at a known place: the named fault point
# `sweep_row` (src/goldenlayers/faults.py) with `pause` makes it announce `sweep_row.reached` after its 2nd saved
# row and wait for `sweep_row.release`; the variables reach the job through the plugin's `sbatch --export=ALL`.
# Counts are per process: the requeued job's process pauses again after its own 2nd row (the test leaves the release
# file for it), and one that redid the 2 saved rows instead of resuming would reach a 5th row of 6 and fail there.
FAULTS = "sweep_row@2:pause,sweep_row@5:raise"


def fault_env(env: dict, folder: Path) -> dict:
    return {**env, "GOLDENLAYERS_FAULT": FAULTS, "GOLDENLAYERS_FAULT_DIR": str(folder),
            "GOLDENLAYERS_FAULT_TIMEOUT": "300"}


def wait_for(what: str, check, proc, timeout: float = 300):
    """check()'s first true value. Not a race: the job waits at its fault point until the test releases it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            out = finish(proc).stdout
            pytest.fail(f"snakemake ended (exit {proc.returncode}) before {what}:\n{out[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {what} after {timeout:.0f} s")


def alive(pid: int) -> bool:
    """The process runs (a zombie, killed but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def job_of(root: Path, env: dict) -> str | None:
    """The SLURM job (queued or running) whose working directory is `root`."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%Z"], env=env, capture_output=True, text=True).stdout
    ids = [line.split("|")[0] for line in out.splitlines() if line.split("|")[-1] == str(root)]
    return ids[0] if len(ids) == 1 else None


def job_state(job: str, env: dict) -> str:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True,
                          text=True).stdout.strip()


def job_records(job: str, env: dict) -> list[str]:
    """Every state SLURM recorded for the job id, one per time it ran (sacct --duplicates), oldest first."""
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-D", "-j", job, "-o", "State"], env=env, capture_output=True,
                         text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pause_a_sweep_job(root: Path, config: Path, env: dict, folder: Path, layer: int, *args: str):
    """Start `<layer's file> --forcerun sweep_layer` through the profile and wait until its job has saved 2 rows
    and paused: (snakemake, the job id, the paused sweep's pid)."""
    # --retries 0: a requeue is SLURM's, not a Snakemake retry (and a job that fails ends the run at once)
    proc = run_snakemake(root, config, SWEEP.format(layer), *args, "--forcerun", "sweep_layer", "--retries", "0",
                         env=fault_env(env, folder), background=True)
    reached = folder / "sweep_row.reached"
    # the file is written after it is created: wait for its content, the pid
    pid = int(wait_for("sweep job paused after its 2nd row",
                       lambda: reached.exists() and reached.read_text().strip(), proc))
    job = wait_for("SLURM job for the sweep", lambda: job_of(root, env), proc)
    return proc, job, pid


def preempt_a_sweep_job(root: Path, config: Path, env: dict, folder: Path, layer: int) -> dict:
    """A sweep job in the preemptible partition, paused after its 2nd row, is preempted by a job of the
    higher-priority partition that needs the whole node; SLURM requeues it under the same id and it runs again
    once the preemptor ends. What the test saw at each step."""
    start = now()
    proc, job, pid = pause_a_sweep_job(root, config, env, folder, layer, "--set-resources",
                                       f"sweep_layer:slurm_partition={cluster.PREEMPTIBLE}")
    high = subprocess.run(["sbatch", "--parsable", "-p", cluster.HIGH, "--exclusive", "--mem", "500", "-t", "10",
                           "-J", "preemptor", "-D", str(folder), "-o", "/dev/null", "--wrap",
                           "while [ ! -e high.release ]; do sleep 0.2; done"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait_for("preemptor running", lambda: job_state(high, env) == "RUNNING", proc)
        # the preemptor got the node: the sweep job's processes were killed first, and its job waits in the queue
        seen = {"sweep_alive": alive(pid), "sweeps": live_sweep_pids(root, layer), "job_state": job_state(job, env)}
        # the requeued job pauses again after its own 2nd row (fault counts are per process): let it pass at once
        (folder / "sweep_row.release").touch()
    finally:
        (folder / "high.release").touch()
    run = finish(proc)
    return {"run": run, "job": job, "seen": seen, "records": job_records(job, env),
            "high_records": job_records(high, env),
            "jobs": [j for j in sacct(start, env) if j["workdir"] == str(root)]}


def down_the_node_under_a_sweep_job(root: Path, config: Path, env: dict, folder: Path, layer: int) -> dict:
    """A sweep job paused after its 2nd row loses its node (`scontrol update ... state=down`); the node comes back
    (`state=resume`) once the job's processes are gone. What the test saw at each step."""
    start = now()
    proc, job, pid = pause_a_sweep_job(root, config, env, folder, layer)
    try:
        cluster.set_node_state("down", reason="goldenlayers-test")
        wait_for("sweep process killed with its node", lambda: not alive(pid), proc)
        seen = {"job_state": job_state(job, env), "node": cluster.node_state()}
        (folder / "sweep_row.release").touch()
    finally:
        if "down" in cluster.node_state():  # not when setting it down failed: resume would hide that error
            cluster.set_node_state("resume")
    run = finish(proc)
    # The killed run's batch step (the job's own Snakemake, which ignores SIGTERM) outlives the node's DOWN: with
    # the test cluster's proctrack/linuxproc, slurmd never sends it the SIGKILL. Kill it by pid, as a leak of this
    # harness (docs/reliability.md).
    orphans = [pid for pid in processes_in(root) if pid != proc.pid]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    return {"run": run, "job": job, "seen": seen, "records": job_records(job, env), "orphans": orphans,
            "jobs": [j for j in sacct(start, env) if j["workdir"] == str(root)]}


def processes_in(root: Path) -> list[int]:
    """Processes whose working directory is `root`, from /proc."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd") == str(root) and alive(int(proc.name)):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def copy_of_project(project, tmp_path_factory):
    """A copy of the finished project and an empty fault folder, per test that interrupts a job."""
    assert project["full"].returncode == 0, "the default target failed on the cluster"

    def make(name: str) -> tuple[Path, Path]:
        base = tmp_path_factory.mktemp(name)
        shutil.copytree(project["root"], base / "project", symlinks=True)
        (base / "faults").mkdir()
        return base / "project", base / "faults"
    return make


def assert_resumed_once(root: Path, layer: int, uninterrupted: Path):
    """The requeued job took over the 2 saved rows (no second process was writing them) and the layer's table
    equals the uninterrupted run's."""
    log = (root / f"results/logs/sweep_layer/tiny/toy/r-rome/layer_{layer}.log").read_text()
    assert f"2 of {len(TINY_RECORDS)} samples already done" in log, log[-2000:]
    assert "being written by another sweep process" not in log, log[-2000:]
    after, before = pd.read_parquet(root / SWEEP.format(layer)), pd.read_parquet(uninterrupted)
    keep = [c for c in before.columns if not TIMING.search(c)]
    pd.testing.assert_frame_equal(after[keep], before[keep])
    partial = root / (SWEEP.format(layer) + ".partial.jsonl")
    assert not partial.exists()


def test_a_preempted_sweep_job_is_requeued_and_resumes_its_rows(project, copy_of_project):
    """A `sweep_layer` job in a preemptible partition (PreemptMode=REQUEUE), paused after its 2nd saved row, is
    preempted by a job of a higher-priority partition: its processes are gone before the preemptor runs, SLURM
    requeues it under the same job id while Snakemake waits (no second submission), the requeued run resumes from
    the 2 saved rows, and the layer's table equals the uninterrupted run's."""
    root, folder = copy_of_project("preempt")
    t0 = time.monotonic()
    got = preempt_a_sweep_job(root, project["config"], project["env"], folder, layer=0)
    TIMES["preemption"] = time.monotonic() - t0
    assert got["run"].returncode == 0, got["run"].stdout[-4000:]
    # while the preemptor held the node, nothing of the sweep ran and its job waited in the queue
    assert got["seen"] == {"sweep_alive": False, "sweeps": [], "job_state": "PENDING"}, got["seen"]
    assert got["records"] == ["PREEMPTED", "COMPLETED"], got["records"]
    assert got["high_records"] == ["COMPLETED"], got["high_records"]
    assert [(j["id"], j["rule"]) for j in got["jobs"]] == [(got["job"], "sweep_layer")], got["jobs"]
    # the requeued process passed its own pause (it consumed the release the test left for it)
    assert sorted(p.name for p in folder.iterdir()) == ["high.release"]
    assert_resumed_once(root, 0, project["root"] / SWEEP.format(0))


def test_a_sweep_job_whose_node_goes_down_is_requeued_and_resumes(project, copy_of_project):
    """The node of a `sweep_layer` job, paused after its 2nd saved row, is set DOWN and, once the job's processes
    are gone, resumed: SLURM requeues the job (NODE_FAIL, then a new run under the same id), Snakemake keeps
    waiting for it (the profile's `slurm-requeue`), the run resumes from the saved rows and ends; the table equals
    the uninterrupted run's. The run is under a timeout, so a hang fails the test."""
    root, folder = copy_of_project("node_down")
    t0 = time.monotonic()
    got = down_the_node_under_a_sweep_job(root, project["config"], project["env"], folder, layer=0)
    TIMES["node down"] = time.monotonic() - t0
    assert got["run"].returncode == 0, got["run"].stdout[-4000:]
    assert got["seen"] == {"job_state": "PENDING", "node": "down"}, got["seen"]
    assert got["records"] == ["NODE_FAIL", "COMPLETED"], got["records"]
    assert [(j["id"], j["rule"]) for j in got["jobs"]] == [(got["job"], "sweep_layer")], got["jobs"]
    assert cluster.node_state() == "idle"
    assert sorted(p.name for p in folder.iterdir()) == []
    assert_resumed_once(root, 0, project["root"] / SWEEP.format(0))
