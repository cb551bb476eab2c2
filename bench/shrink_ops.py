#!/usr/bin/env python3
"""Chooses the operations a search-space shrinking step drops (bench/nb201_budget.sh).

Reads a random search's result.json over NAS-Bench-201-style cells (the supernet's own
score of each cell, e.g. minus its validation loss as a percentile) and ranks the cells by
it (0 worst, 1 best). Each operation is scored over the cells that use it, counted once per
edge that uses it:
  mean  the mean rank of those cells;
  qNN   the NN-th percentile of their ranks (e.g. q90): how well the best cells using the
        operation do. A search only keeps the best cells, so an operation that many poor
        cells use (e.g. `none`, whose cells may lose every input path) but that good cells
        also need scores well here and is kept.
Prints one line per operation (score, count) and, last, the DROP worst operations joined by
", ". Reads no benchmark table.

  shrink_ops.py RESULT_JSON DROP [mean|qNN]
"""
import json
import re
import sys


def quantile(values, q):
    """Linear-interpolated quantile, q in [0, 1] (numpy's default method)."""
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    history = json.load(open(sys.argv[1]))["history"]
    drop = int(sys.argv[2])
    method = sys.argv[3] if len(sys.argv) == 4 else "mean"
    if method == "mean":
        score_of = lambda ranks: sum(ranks) / len(ranks)
    elif re.fullmatch(r"q\d{1,2}", method):
        score_of = lambda ranks: quantile(ranks, int(method[1:]) / 100)
    else:
        sys.exit(f"scoring must be mean or qNN (e.g. q90), got {method!r}")
    history.sort(key=lambda e: e["accuracy"])
    n = len(history)
    ranks = {}
    for rank, e in enumerate(history):
        for op in re.findall(r"\|([a-z0-9_]+)~\d", e["arch"]):
            ranks.setdefault(op, []).append(rank / max(1, n - 1))
    scores = sorted((score_of(r), op) for op, r in ranks.items())
    if drop < 0 or drop >= len(scores):
        sys.exit(f"DROP must be in [0, {len(scores) - 1}], got {drop}")
    for score, op in scores:
        print(f"# {op}: {method} rank {score:.3f} over {len(ranks[op])} edges")
    print(", ".join(op for _, op in scores[:drop]))


if __name__ == "__main__":
    main()
