#!/usr/bin/env python3
"""Chooses the operations a search-space shrinking step drops (bench/nb201_budget.sh).

Reads a random search's result.json over NAS-Bench-201-style cells (the supernet's own
score of each cell, e.g. minus its validation loss as a percentile) and ranks the cells by
it; each operation's score is the mean rank (0 worst, 1 best) of the cells that use it,
weighted by how many of the cell's six edges use it. Prints one line per operation
(score, count) and, last, the DROP worst operations joined by ", ". Reads no benchmark
table.

  shrink_ops.py RESULT_JSON DROP
"""
import json
import re
import sys


def main():
    history = json.load(open(sys.argv[1]))["history"]
    drop = int(sys.argv[2])
    history.sort(key=lambda e: e["accuracy"])
    n = len(history)
    total, count = {}, {}
    for rank, e in enumerate(history):
        r = rank / max(1, n - 1)
        for op in re.findall(r"\|([a-z0-9_]+)~\d", e["arch"]):
            total[op] = total.get(op, 0.0) + r
            count[op] = count.get(op, 0) + 1
    scores = sorted((total[op] / count[op], op) for op in total)
    if drop < 0 or drop >= len(scores):
        sys.exit(f"DROP must be in [0, {len(scores) - 1}], got {drop}")
    for score, op in scores:
        print(f"# {op}: mean rank {score:.3f} over {count[op]} edges")
    print(", ".join(op for _, op in scores[:drop]))


if __name__ == "__main__":
    main()
