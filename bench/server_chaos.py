#!/usr/bin/env python3
"""kill -9 chaos trials and resource soak for `nas serve` (standard library only).

Every trial runs a real `nas serve` on a fresh data directory, starts a job or an export
through the real CLI client, kills the server with SIGKILL at a random moment, restarts
it on the same directory and checks what survived:

  training  a 400-step job (checkpoint every 40): the job record is still listed, the job
            resumes and SUCCEEDS, the checkpoint it resumed from loads, and the steps lost
            (last step reported before the kill minus the step resumed from) stay within
            one checkpoint interval.
  search    a 400-evaluation search with the inherited accuracy of a tiny trained supernet:
            the record is listed, the search resumes (finished generations replayed from
            the evaluation archive) and SUCCEEDS with exactly the result of an
            uninterrupted run.
  export    an export of the smallest subnet over an existing bundle of the largest: the
            bundle directory holds exactly one whole bundle, old or new (its files'
            hashes match the reference bundle named by its subnet.json).

Then the soak: a cost-only search with budget 1,000,000 submitted to a server started
with --max-budget 1000000 (peak RSS of the server from /proc, VmHWM), and N WatchJob
streams against a server with the default --max-watchers (bench/watchers).

  bazel build //nas //bench:watchers
  python3 bench/server_chaos.py --out runs/chaos [--trials 20] [--kinds training,search,export,soak]

Appends one JSON line per trial to OUT/trials.jsonl (a rerun skips finished trials) and
prints the summary table (also OUT/summary.json).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAS = os.path.join(ROOT, "bazel-bin/nas/nas")
WATCHERS = os.path.join(ROOT, "bazel-bin/bench/watchers")
SHARED = os.environ.get("NAS_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared/data"))

TINY_SPACE = """name: tiny
type: shufflenet_oneshot
input: {size: 28, channels: 1}
num_classes: 10
stem: {channels: 8, kernel_size: 3, stride: 2}
stages:
  - {layers: 3, channels: 16, stride: 2}
  - {layers: 3, channels: 32, stride: 2}
head: {channels: 64}
"""
TINY_TRAIN = """space: tiny.yaml
data: {dataset: fashion_mnist, validation_size: 256, train_limit: 2048}
training: {seed: 1, batch_size: 32, steps: 400, checkpoint_every: 40, log_every: 1}
evaluation: {calibration_batches: 1, calibration_batch_size: 64, batch_size: 256}
"""
CHECKPOINT_EVERY = 40


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, timeout=900):
    return subprocess.run([NAS, *args], capture_output=True, text=True, timeout=timeout)


class Server:
    def __init__(self, data_dir, config_dir, extra=()):
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log = open(os.path.join(os.path.dirname(data_dir), "server.log"), "a")
        self.proc = subprocess.Popen(
            [NAS, "serve", "--port", str(self.port), "--data-dir", data_dir, "--config-dir", config_dir,
             "--allow-dir", SHARED, "--threads", "1", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError("server did not start: %r (see %s)" % (line, self.log.name))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def jobs(self):
        r = run("jobs", "--server", self.addr, "--json", timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def job(self, job_id):
        for j in self.jobs() or []:
            if j["id"] == job_id:
                return j
        return None

    def watch(self, job_id):
        run("watch", "--server", self.addr, job_id, timeout=900)
        return self.job(job_id)


def sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def fresh(out, name):
    d = os.path.join(out, "trials", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "configs"))
    with open(os.path.join(d, "configs/tiny.yaml"), "w") as f:
        f.write(TINY_SPACE)
    with open(os.path.join(d, "configs/train_tiny.yaml"), "w") as f:
        f.write(TINY_TRAIN)
    shutil.copy(os.path.join(ROOT, "configs/nb201.yaml"), os.path.join(d, "configs/nb201.yaml"))
    return d, os.path.join(d, "data"), os.path.join(d, "configs")


def fresh_with_checkpoint(out, name, checkpoint):
    """A fresh trial directory whose data directory holds a copy of `checkpoint`."""
    d, data, configs = fresh(out, name)
    os.makedirs(data)
    copy = os.path.join(data, "checkpoint.nasckpt")
    shutil.copy(checkpoint, copy)
    return d, data, configs, copy


def kill_and_resume(server, client, job_id, data, configs, delay_s):
    """Sleeps `delay_s`, kills the server (SIGKILL) and the client, restarts the server on
    the same directory and watches the job to its end: (job at the kill, its record after
    the restart, its final state)."""
    time.sleep(delay_s)
    last = server.job(job_id) if job_id else None
    server.kill9()
    client.kill()
    client.wait()
    server = Server(data, configs)
    record = server.job(job_id) if job_id else None
    final = server.watch(job_id) if record else None
    server.stop()
    return last, record, final


def wait_running(server, proc, deadline_s=120):
    """The id of the job the client submitted once it runs (or None)."""
    t0 = time.time()
    while time.time() - t0 < deadline_s:
        jobs = server.jobs() or []
        if jobs and jobs[-1]["state"] == "RUNNING":
            return jobs[-1]["id"]
        if jobs and jobs[-1]["state"] in ("SUCCEEDED", "FAILED"):
            return jobs[-1]["id"]
        time.sleep(0.05)
    return None


def step_of(progress):
    import re
    m = re.search(r"step (\d+)", progress or "")
    return int(m.group(1)) if m else None


def trial_training(out, i, rng):
    d, data, configs = fresh(out, "training-%d" % i)
    server = Server(data, configs)
    client = subprocess.Popen([NAS, "train", "--server", server.addr, "--config", "train_tiny.yaml",
                               "--request-id", "t%d" % i], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    job_id = wait_running(server, client)
    last, record, final = kill_and_resume(server, client, job_id, data, configs, rng.uniform(0, 4.0))
    summary = {}
    if final and final["state"] == "SUCCEEDED":
        with open(os.path.join(final["output_dir"], "summary.json")) as f:
            summary = json.load(f)
    seen = step_of(last["progress"]) if last else None
    resumed = summary.get("resumed_from_step")
    lost = (seen - resumed) if (seen is not None and resumed is not None and seen >= resumed) else 0
    return {"kind": "training", "trial": i, "job": job_id, "state_at_kill": last and last["state"],
            "step_at_kill": seen, "record_lost": record is None,
            "final": final and final["state"], "error": final and final.get("error"),
            "resumed_from_step": resumed, "steps_lost": lost,
            "corrupt": bool(final and final["state"] == "FAILED")}


def search_args(checkpoint):
    return ["--evaluator", "supernet:" + checkpoint, "--combine", "none", "--algorithm", "evolution",
            "--budget", "400", "--population", "20", "--parents", "5", "--seed", "3"]


def search_reference(out, export_ref):
    path = os.path.join(out, "search_reference.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    d, data, configs, checkpoint = fresh_with_checkpoint(out, "search-reference", export_ref["checkpoint"])
    server = Server(data, configs)
    t0 = time.time()
    run("search", "--server", server.addr, *search_args(checkpoint))
    seconds = time.time() - t0
    job = server.jobs()[-1]
    server.stop()
    with open(os.path.join(job["output_dir"], "result.json")) as f:
        r = json.load(f)
    ref = {"seconds": seconds, "best": r["best"]["arch"], "history": [e["arch"] for e in r["history"]],
           "checkpoint": export_ref["checkpoint"]}
    with open(path, "w") as f:
        json.dump(ref, f)
    return ref


def trial_search(out, i, rng, ref):
    d, data, configs, checkpoint = fresh_with_checkpoint(out, "search-%d" % i, ref["checkpoint"])
    server = Server(data, configs)
    client = subprocess.Popen([NAS, "search", "--server", server.addr, *search_args(checkpoint),
                               "--request-id", "s%d" % i],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    job_id = wait_running(server, client)
    last, record, final = kill_and_resume(server, client, job_id, data, configs, rng.uniform(0, 0.5 * ref["seconds"]))
    same = False
    if final and final["state"] == "SUCCEEDED":
        with open(os.path.join(final["output_dir"], "result.json")) as f:
            r = json.load(f)
        same = r["best"]["arch"] == ref["best"] and [e["arch"] for e in r["history"]] == ref["history"]
    return {"kind": "search", "trial": i, "job": job_id, "state_at_kill": last and last["state"],
            "progress_at_kill": last and last["progress"], "record_lost": record is None,
            "final": final and final["state"], "error": final and final.get("error"), "same_result": same,
            "corrupt": bool(final and final["state"] == "FAILED")}


def export_reference(out):
    path = os.path.join(out, "export_reference.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    d, data, configs = fresh(out, "export-reference")
    os.makedirs(data)
    r = run("train", "--config", os.path.join(configs, "train_tiny.yaml"), "--out", os.path.join(d, "run"),
            "--threads", "1")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    ref = {"checkpoint": os.path.join(d, "run/checkpoint.nasckpt"), "bundles": {}}
    for arch in ("largest", "smallest"):
        t0 = time.time()
        e = run("export", "--checkpoint", ref["checkpoint"], "--arch", arch, "--out", os.path.join(d, arch),
                "--threads", "1", "--json")
        meta = json.loads(e.stdout)
        ref["bundles"][meta["arch"]] = {f: sha1(os.path.join(d, arch, f)) for f in ("subnet.pt", "bn_stats.pt")}
        ref["seconds_" + arch] = time.time() - t0
    with open(path, "w") as f:
        json.dump(ref, f)
    return ref


def trial_export(out, i, rng, ref):
    d, data, configs, checkpoint = fresh_with_checkpoint(out, "export-%d" % i, ref["checkpoint"])
    server = Server(data, configs)
    t0 = time.time()
    first = run("export", "--server", server.addr, "--checkpoint", checkpoint, "--arch", "largest", "--out", "b")
    first_seconds = time.time() - t0
    client = subprocess.Popen([NAS, "export", "--server", server.addr, "--checkpoint", checkpoint,
                               "--arch", "smallest", "--out", "b"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, 1.2 * first_seconds))
    server.kill9()
    client.kill()
    client.wait()
    bundle = os.path.join(data, "exports/b")
    files = sorted(os.listdir(bundle)) if os.path.isdir(bundle) else []
    whole, which = False, None
    if files == ["bn_stats.pt", "subnet.json", "subnet.pt"]:
        with open(os.path.join(bundle, "subnet.json")) as f:
            which = json.load(f)["arch"]
        expected = ref["bundles"].get(which, {})
        whole = all(sha1(os.path.join(bundle, f)) == h for f, h in expected.items()) and bool(expected)
    leftovers = [n for n in os.listdir(os.path.join(data, "exports")) if n != "b"] if os.path.isdir(
        os.path.join(data, "exports")) else []
    # The restarted server exports again over whatever is there; its staging leftovers go.
    server = Server(data, configs)
    again = run("export", "--server", server.addr, "--checkpoint", checkpoint, "--arch", "smallest", "--out", "b")
    server.stop()
    leftovers_after = [n for n in os.listdir(os.path.join(data, "exports")) if n != "b"] if os.path.isdir(
        os.path.join(data, "exports")) else []
    return {"kind": "export", "trial": i, "first_ok": first.returncode == 0, "files": files, "bundle_arch": which,
            "whole_bundle": whole, "corrupt": not whole, "staging_leftovers_after_kill": leftovers,
            "staging_leftovers_after_next_export": leftovers_after, "next_export_ok": again.returncode == 0}


def vmhwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def soak(out, streams):
    results = {}
    d, data, configs = fresh(out, "soak-memory")
    shutil.copy(os.path.join(ROOT, "configs/spos_shufflenet.yaml"), os.path.join(configs, "spos_shufflenet.yaml"))
    server = Server(data, configs, ["--max-budget", "1000000"])
    rss_start = vmhwm_kb(server.proc.pid)
    for algorithm in ("random", "nsga2"):
        t0 = time.time()
        r = run("search", "--server", server.addr, "--space", "spos_shufflenet", "--evaluator", "cost",
                "--objective", "max:flops", "--objective", "min:params", "--algorithm", algorithm,
                "--budget", "1000000", timeout=3600)
        job = server.jobs()[-1]
        get = run("jobs", "--server", server.addr, "--json")
        results["budget_1m_" + algorithm] = {
            "client_rc": r.returncode, "state": job["state"], "error": job.get("error"),
            "seconds": round(time.time() - t0, 1), "server_peak_rss_mb_so_far": round(vmhwm_kb(server.proc.pid) / 1024),
            "listing_ok_after": get.returncode == 0}
    results["server_rss_at_start_mb"] = round(rss_start / 1024)
    server.stop()

    d, data, configs = fresh(out, "soak-watchers")
    server = Server(data, configs)
    client = subprocess.Popen([NAS, "train", "--server", server.addr, "--config", "train_tiny.yaml", "--steps",
                               "100000000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    job_id = wait_running(server, client)
    w = subprocess.run([WATCHERS, "--server", server.addr, "--job", job_id, "--pid", str(server.proc.pid),
                        "--n", str(streams)], capture_output=True, text=True, timeout=600)
    results["watchers"] = json.loads(w.stdout) if w.returncode == 0 else {"error": w.stderr}
    run("cancel", "--server", server.addr, job_id)
    t0 = time.time()
    server.stop()
    results["shutdown_seconds"] = round(time.time() - t0, 2)
    client.kill()
    client.wait()
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--kinds", default="training,search,export,soak")
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    log_path = os.path.join(a.out, "trials.jsonl")
    done = set()
    rows = []
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                r = json.loads(line)
                rows.append(r)
                done.add((r["kind"], r.get("trial")))
    kinds = a.kinds.split(",")
    refs = {}
    for kind in kinds:
        if kind == "soak":
            if ("soak", None) not in done:
                r = {"kind": "soak", "trial": None, **soak(a.out, a.streams)}
                rows.append(r)
                with open(log_path, "a") as f:
                    f.write(json.dumps(r) + "\n")
                print(json.dumps(r), flush=True)
            continue
        if kind == "search":
            refs[kind] = search_reference(a.out, export_reference(a.out))
        if kind == "export":
            refs[kind] = export_reference(a.out)
        for i in range(a.trials):
            if (kind, i) in done:
                continue
            rng = random.Random(a.seed * 1000 + i + hash(kind) % 97)
            fn = {"training": trial_training, "search": trial_search, "export": trial_export}[kind]
            r = fn(a.out, i, rng) if kind == "training" else fn(a.out, i, rng, refs[kind])
            rows.append(r)
            with open(log_path, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(json.dumps(r), flush=True)
    summary = {}
    for kind in ("training", "search", "export"):
        t = [r for r in rows if r["kind"] == kind]
        if not t:
            continue
        s = {"trials": len(t), "corrupt": sum(r["corrupt"] for r in t),
             "records_lost": sum(r.get("record_lost", False) for r in t)}
        if kind == "training":
            s["succeeded_after_restart"] = sum(r["final"] == "SUCCEEDED" for r in t)
            s["max_steps_lost"] = max(r["steps_lost"] for r in t)
            s["checkpoint_every"] = CHECKPOINT_EVERY
            # The step seen last before the kill is a lower bound of the step reached, so a
            # resume from at least its last checkpoint boundary loses under one interval.
            s["resumed_from_last_checkpoint_or_later"] = sum(
                r["resumed_from_step"] is not None and r["step_at_kill"] is not None and
                r["resumed_from_step"] >= CHECKPOINT_EVERY * (r["step_at_kill"] // CHECKPOINT_EVERY) for r in t)
        if kind == "search":
            s["succeeded_after_restart"] = sum(r["final"] == "SUCCEEDED" for r in t)
            s["same_result_as_uninterrupted"] = sum(r["same_result"] for r in t)
        if kind == "export":
            archs = {}
            for r in t:
                archs[str(r["bundle_arch"])] = archs.get(str(r["bundle_arch"]), 0) + 1
            s["bundle_after_kill"] = archs  # Old (largest) or new (smallest): either, never a mix.
            s["whole_bundles"] = sum(r["whole_bundle"] for r in t)
            s["staging_left_after_next_export"] = sum(bool(r["staging_leftovers_after_next_export"]) for r in t)
        summary[kind] = s
    soak_rows = [r for r in rows if r["kind"] == "soak"]
    if soak_rows:
        summary["soak"] = soak_rows[-1]
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
