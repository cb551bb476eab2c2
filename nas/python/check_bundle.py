#!/usr/bin/env python3
"""Loads a deployment bundle written by `nas export` / `nas finetune` in Python and checks it.

Runs subnet.pt with Debian's python3-torch (torch.jit.load) and subnet.onnx with
python3-opencv (cv2.dnn), neither sharing code with the engine that wrote them:
  - both at batch sizes 1, 7 and 64 (the outputs must have the batch's size, and a
    sample's logits must not depend on the batch it is in);
  - both on real test images (all of them by default), normalized as subnet.json says,
    reporting each runtime's test accuracy and the largest difference between them;
  - batch-1 latency of each (median).
Prints one JSON object; exits 1 when a check fails.

  /usr/bin/python3 nas/python/check_bundle.py BUNDLE_DIR --dataset fashion_mnist
  /usr/bin/python3 nas/python/check_bundle.py BUNDLE_DIR --dataset cifar10 \\
      --data ../shared/data/cifar10-jpeg.tar.gz
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import tarfile
import time

import cv2
import numpy as np
import torch


def load_fashion_mnist(directory):
    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def load_cifar10_jpeg(archive, classes):
    """The test split of the CIFAR-10 JPEG archive: cifar10/test/<class>/NNNN.jpg."""
    index = {name: i for i, name in enumerate(classes)}
    images, labels = [], []
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith("cifar10/test/")),
                         key=lambda m: m.name)
        for m in members:
            name = m.name.split("/")[2]
            if name not in index:
                raise SystemExit(f"{archive}: class folder {name!r} is not one of the bundle's classes")
            data = np.frombuffer(tar.extractfile(m).read(), np.uint8)
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
            images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
            labels.append(index[name])
    return np.stack(images), np.array(labels, np.int64)


def normalize(images, meta):
    mean = np.array(meta["normalization"]["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.array(meta["normalization"]["std"], np.float32).reshape(1, -1, 1, 1)
    return ((images.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)


def median_ms(fn, runs=30):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle directory (subnet.pt, subnet.onnx, subnet.json)")
    parser.add_argument("--dataset", choices=["fashion_mnist", "cifar10", "none"], default="none",
                        help="test set to score on (none: random inputs for the batch checks only)")
    parser.add_argument("--data", help="Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist) or "
                                       "the CIFAR-10 JPEG archive")
    parser.add_argument("--limit", type=int, default=0, help="score on the first N test images (0: all)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest allowed |ONNX - TorchScript| relative to max(1, largest |logit|)")
    parser.add_argument("--threads", type=int, default=0, help="torch and OpenCV threads (0: their defaults)")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    with open(os.path.join(args.bundle, "subnet.json")) as f:
        meta = json.load(f)
    quantization = meta.get("quantization")
    if quantization and quantization["engine"] in torch.backends.quantized.supported_engines:
        # Integer weights are packed for the engine at load time.
        torch.backends.quantized.engine = quantization["engine"]
    module = torch.jit.load(os.path.join(args.bundle, "subnet.pt"))
    module.eval()
    onnx_path = os.path.join(args.bundle, "subnet.onnx")
    net = cv2.dnn.readNetFromONNX(onnx_path) if os.path.exists(onnx_path) else None
    shape = meta["input"]
    classes = len(meta["classes"])
    failures = []

    def run_torch(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    def run_onnx(x):
        net.setInput(x)
        return net.forward()

    if args.dataset == "fashion_mnist":
        images, labels = load_fashion_mnist(args.data or "/usr/share/datasets/fashion-mnist")
    elif args.dataset == "cifar10":
        if not args.data:
            raise SystemExit("--data: the CIFAR-10 JPEG archive is required with --dataset cifar10")
        images, labels = load_cifar10_jpeg(args.data, meta["classes"])
    else:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (64, shape["channels"], shape["height"], shape["width"]), dtype=np.uint8)
        labels = None
    if args.limit > 0:
        images = images[:args.limit]
        labels = None if labels is None else labels[:args.limit]
    x = normalize(images, meta)
    if x.shape[1:] != (shape["channels"], shape["height"], shape["width"]):
        raise SystemExit(f"the images are {x.shape[1:]}, the bundle expects {shape}")

    report = {"bundle": args.bundle, "arch": meta["arch"], "torch": torch.__version__, "opencv": cv2.__version__}
    if quantization:
        report["quantized_engine"] = torch.backends.quantized.engine
    # Batch sizes: shapes, and a sample's logits independent of its batch.
    reference = run_torch(x[:1])
    batch_diff = 0.0
    for n in (1, 7, 64):
        xb = np.repeat(x, (n + len(x) - 1) // len(x), axis=0)[:n] if len(x) < n else x[:n]
        for name, fn in (("torchscript", run_torch), ("onnx", run_onnx if net is not None else None)):
            if fn is None:
                continue
            y = fn(xb)
            if y.shape != (n, classes):
                failures.append(f"{name} returned {y.shape} at batch {n}")
                continue
            batch_diff = max(batch_diff, float(np.abs(y[:1] - reference).max()))
    report["batch_sizes"] = [1, 7, 64]
    report["max_abs_diff_across_batch_sizes"] = batch_diff
    scale = max(1.0, float(np.abs(reference).max()))
    if batch_diff > args.tolerance * scale:
        failures.append(f"logits depend on the batch size or runtime by {batch_diff}")

    # Scoring in batches of 256 in both runtimes.
    correct_t = correct_o = 0
    onnx_diff = 0.0
    for start in range(0, len(x), 256):
        xb = x[start:start + 256]
        yt = run_torch(xb)
        if labels is not None:
            correct_t += int((yt.argmax(1) == labels[start:start + 256]).sum())
        if net is not None:
            yo = run_onnx(xb)
            onnx_diff = max(onnx_diff, float(np.abs(yo - yt).max()) / max(1.0, float(np.abs(yt).max())))
            if labels is not None:
                correct_o += int((yo.argmax(1) == labels[start:start + 256]).sum())
    report["images"] = int(len(x))
    if labels is not None:
        report["torchscript_test_accuracy"] = 100.0 * correct_t / len(x)
        if net is not None:
            report["onnx_test_accuracy"] = 100.0 * correct_o / len(x)
    if net is not None:
        report["onnx_max_abs_diff_vs_torchscript"] = onnx_diff
        if onnx_diff > args.tolerance:
            failures.append(f"ONNX (OpenCV DNN) differs from TorchScript by {onnx_diff}")
    one = x[:1]
    report["latency_batch1_ms_median"] = {"torchscript": median_ms(lambda: run_torch(one))}
    if net is not None:
        report["latency_batch1_ms_median"]["onnx_opencv"] = median_ms(lambda: run_onnx(one))
    report["failures"] = failures
    print(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
