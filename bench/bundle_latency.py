#!/usr/bin/env python3
"""Median latency of exported bundles in Python (python3-torch), side by side in one run.

For each bundle directory: TorchScript subnet.pt at batch 1 and 64, for a quantized
bundle under every quantized engine this torch has (the weights are re-packed at load).
Bundles are measured in rounds, alternating, so that machine noise spreads over all. Each
batch size has its own loaded module, first run at that size: LibTorch's oneDNN quantized
convolutions keep a ready kernel only for the first input shape a module sees (other shapes
measured 1.15-1.35x slower, bench/bundle_timing.cc). One untimed round comes first: glibc
maps and unmaps large buffers until its threshold has grown, page-faulting every pass.

  /usr/bin/python3 bench/bundle_latency.py --threads 2 [--json OUT.json] DIR [DIR ...]
"""
import argparse
import json
import os
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20, help="timed passes per round and batch size")
    parser.add_argument("--json", help="also write the medians to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = []
    for d in args.bundles:
        meta = json.load(open(os.path.join(d, "subnet.json")))
        engines = [None]
        if meta.get("quantization"):
            engines = [e for e in ("onednn", "qnnpack") if e in torch.backends.quantized.supported_engines]
        for engine in engines:
            if engine:
                torch.backends.quantized.engine = engine
            modules = {b: torch.jit.load(os.path.join(d, "subnet.pt")).eval() for b in (1, 64)}
            shape = meta["input"]
            cases.append({"bundle": os.path.basename(d.rstrip("/")), "engine": engine or "float32", "modules": modules,
                          "shape": (shape["channels"], shape["height"], shape["width"]), "times": {1: [], 64: []}})
    with torch.no_grad():
        for round_index in range(args.rounds + 1):
            for case in cases:
                if case["engine"] != "float32":
                    torch.backends.quantized.engine = case["engine"]
                for batch in (1, 64):
                    x = torch.randn(batch, *case["shape"])
                    module = case["modules"][batch]
                    for _ in range(3):
                        module(x)
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        module(x)
                        if round_index > 0:
                            case["times"][batch].append((time.perf_counter() - t0) * 1e3)
    print(f"| bundle | kernels | batch 1 ms | batch 64 ms | (median of {args.rounds} x {args.runs}, "
          f"{args.threads} threads, torch {torch.__version__}) |")
    print("|---|---|---|---|---|")
    for case in cases:
        print(f"| {case['bundle']} | {case['engine']} | {statistics.median(case['times'][1]):.3f} | "
              f"{statistics.median(case['times'][64]):.2f} | |")
    if args.json:
        rows = [{"bundle": c["bundle"], "engine": c["engine"], "batch1_median_ms": statistics.median(c["times"][1]),
                 "batch64_median_ms": statistics.median(c["times"][64])} for c in cases]
        with open(args.json + ".tmp", "w") as f:
            json.dump({"threads": args.threads, "torch": torch.__version__, "rows": rows}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
