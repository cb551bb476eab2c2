#!/usr/bin/env python3
"""Which cell families an NB201 evaluator prefers under `flops <= 75M` (diagnostic).

NAS-Bench-201's top 1 % under 75M (>= 93.12 %) are all cells with one nor_conv_3x3 off
the input-to-output edge and a skip_connect on it (family B, residual cells). Cells with
the nor_conv_3x3 on that edge (family A) top out at 92.66 %; the 1x1-heavy cells with the
most FLOPs (family M) at 92.83 %. This script writes the 15 best cells of A and of B and
all of M (by the table: it only chooses what to probe) and, given `nas search` results
that evaluated them (--initial-arch, random, budget = their number), prints each
evaluator's ranking of the families. The evaluator never reads the table.

  python3 bench/nb201_families.py cells TABLE.csv > cells.txt
  python3 bench/nb201_families.py rank cells.txt NAME=result.json ...
"""
import csv
import json
import sys


def ops(arch):
    return [e.split("~")[0] for part in arch.strip("|").split("|+|") for e in part.split("|")]


def feasible_75m(o):  # exactly the 10,240 cells of the full network under 75 MFLOPs
    return o.count("nor_conv_3x3") <= 1 and 35 * o.count("nor_conv_3x3") + 4 * o.count("nor_conv_1x1") <= 60


def cells(table):
    rows = []
    for r in csv.DictReader(open(table)):
        o = ops(r["ArchitectureString"])
        if feasible_75m(o):
            rows.append((float(r["CIFAR10TestAccuracy200Epochs"]), o, r["ArchitectureString"]))
    rows.sort(key=lambda x: -x[0])
    groups = [("B", [x for x in rows if x[1][3] == "skip_connect"][:15]),
              ("A", [x for x in rows if x[1][3] == "nor_conv_3x3"][:15]),
              ("M", [x for x in rows if x[1].count("nor_conv_1x1") == 5])]
    for name, members in groups:
        for acc, _, arch in members:
            print(name, "%.2f" % acc, arch)


def rank(cells_path, results):
    group = {}
    for line in open(cells_path):
        g, _, arch = line.split()
        group[arch] = g
    print("| evaluator | families of its 12 best | mean rank A | mean rank B | mean rank M | best B's rank |")
    print("|---|---|---|---|---|---|")
    for spec in results:
        name, _, path = spec.partition("=")
        score = {e["arch"]: e["accuracy"] for e in json.load(open(path))["history"] if e["arch"] in group}
        if len(score) != len(group):
            sys.exit("%s: evaluated %d of the %d probe cells" % (path, len(score), len(group)))
        order = sorted(score, key=lambda a: -score[a])
        ranks = {g: [i + 1 for i, a in enumerate(order) if group[a] == g] for g in "ABM"}
        mean = {g: sum(r) / len(r) for g, r in ranks.items()}
        print("| %s | %s | %.1f | %.1f | %.1f | %d |" % (name, "".join(group[a] for a in order[:12]), mean["A"],
                                                       mean["B"], mean["M"], min(ranks["B"])))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "cells":
        cells(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "rank":
        rank(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
