#!/usr/bin/env python3
"""What re-ranking only the K best would have picked (scoring only).

Given `nas search --rerank-top 10 ...` results on NAS-Bench-201, prints for K = 1, 3, 5,
10 the true accuracy of the architecture with the best re-ranked value among the K best
by the search's value (K = 1: no re-ranking). The re-ranked values are deterministic per
architecture, so this is what `--rerank-top K` returns. The table is read only to score.

  python3 bench/nb201_rerank_topk.py TABLE.csv runs/nb201_prr/s*/search_*/result.json
"""
import csv
import json
import sys


def main():
    table, results = sys.argv[1], sys.argv[2:]
    acc = {r["ArchitectureString"]: float(r["CIFAR10TestAccuracy200Epochs"]) for r in csv.DictReader(open(table))}
    for path in results:
        reranked = [e for e in json.load(open(path))["history"] if "rerank_accuracy" in e]
        reranked.sort(key=lambda e: -e["accuracy"])
        picks = []
        for k in (1, 3, 5, 10):
            best = max(reranked[:k], key=lambda e: e["rerank_accuracy"])
            picks.append("K%d %.2f" % (k, acc[best["arch"]]))
        print(path, " ".join(picks))


if __name__ == "__main__":
    main()
