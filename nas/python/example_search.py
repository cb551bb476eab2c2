#!/usr/bin/python3
"""Example: a constrained search on a running `nas serve`, with live progress and the
Pareto front at the end.

  PYTHONPATH=bazel-bin/nas/python:nas/python python3 nas/python/example_search.py \
      --server 127.0.0.1:50051 --space nb201 --evaluator supernet:runs/x/checkpoint.nasckpt \
      --constraint 'flops<=100M' --budget 100
"""

import argparse
import sys

from nas_client import NasClient, NasError


def describe(e):
    """An evaluation in words: accuracy when the evaluator gives one, FLOPs, params."""
    text = f"{e.flops / 1e6:.3f} MFLOPs, {e.params / 1e6:.4f} M params"
    return f"{e.accuracy:.2f} % at {text}" if e.has_accuracy else text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="host:port of nas serve")
    parser.add_argument("--token", default=None, help="bearer token, when the server needs one")
    parser.add_argument("--space", default="", help="space name the server knows (optional with supernet:)")
    parser.add_argument("--evaluator", required=True, help="table:PATH, supernet:CHECKPOINT, zc:..., combo:..., cost")
    parser.add_argument("--constraint", action="append", default=[], help="e.g. flops<=100M (repeatable)")
    parser.add_argument("--objective", action="append", default=[], help="e.g. accuracy, min:flops (repeatable)")
    parser.add_argument("--algorithm", default="evolution")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with NasClient(args.server, token=args.token) as client:
        try:
            job = client.submit_search(space=args.space, evaluator=args.evaluator, algorithm=args.algorithm,
                                       constraints=args.constraint, objectives=args.objective,
                                       budget=args.budget, seed=args.seed)
            print(f"submitted {job.id}", file=sys.stderr)
            for update in client.watch(job.id):
                p = update.search_progress
                if p.evaluated:
                    print(f"generation {p.generation}: {p.evaluated}/{p.budget} evaluated, best {describe(p.best)}",
                          file=sys.stderr)
            result = client.result(job.id)
        except NasError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(f"best: {result.best.arch}  {describe(result.best)}")
    print(f"Pareto front ({' vs '.join(result.pareto_front_objectives)}):")
    for e in result.pareto_front:
        print(f"  {describe(e)}  {e.arch}")
    print(f"all {result.evaluations} evaluations: {result.result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
