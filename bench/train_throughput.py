#!/usr/bin/env python3
"""The training loop a PyTorch user would write in Python, for the same supernet, sampler
and data pipeline as `nas train` with bench/train_throughput_cifar.yaml: the small SPOS
ShuffleNetV2 supernet (configs/spos_shufflenet_small.yaml) on CIFAR-10 from
../shared/data/cifar10-jpeg.tar.gz, random crop (pad 4) + horizontal flip, uniform
single-path sampling, SGD (Nesterov momentum, weight decay off BN/biases), label smoothing.

Prints one JSON line: end-to-end images/s over the steps after 5 warm-up steps.
Run by bench/train_throughput.sh; needs Debian's python3-torch and python3-torchvision.
"""
import argparse
import io
import json
import os
import random
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)


def load_cifar_train(archive, cache_dir):
    """Decodes the training JPEGs once (PIL) into a cached uint8 array."""
    cache = os.path.join(cache_dir, "cifar10-train-python.npz")
    if os.path.exists(cache):
        d = np.load(cache)
        return d["images"], d["labels"]
    entries = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] == "train" and parts[3].endswith(".jpg"):
                entries.append((member.name, CLASSES.index(parts[2]), tar.extractfile(member).read()))
    entries.sort()
    images = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).transpose(2, 0, 1)
                       for _, _, b in entries])
    labels = np.array([label for _, label, _ in entries], dtype=np.int64)
    os.makedirs(cache_dir, exist_ok=True)
    np.savez(cache + ".tmp.npz", images=images, labels=labels)
    os.replace(cache + ".tmp.npz", cache)
    return images, labels


class CifarTrain(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = self.images[i].float() / 255.0
        img = F.pad(img, (4, 4, 4, 4))
        dy, dx = random.randint(0, 8), random.randint(0, 8)
        img = img[:, dy:dy + 32, dx:dx + 32]
        if random.random() < 0.5:
            img = img.flip(2)
        # Zero padding before normalization, as the C++ loader does.
        return (img - MEAN) / STD, self.labels[i]


def conv_bn(cin, cout, k, stride, depthwise=False, relu=False):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=cout if depthwise else 1, bias=False),
              nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def main_branch(block, inp, mid, outputs, stride):
    if block == "xception":
        return nn.Sequential(conv_bn(inp, inp, 3, stride, True), conv_bn(inp, mid, 1, 1, relu=True),
                             conv_bn(mid, mid, 3, 1, True), conv_bn(mid, mid, 1, 1, relu=True),
                             conv_bn(mid, mid, 3, 1, True), conv_bn(mid, outputs, 1, 1, relu=True))
    k = int(block[-1])
    return nn.Sequential(conv_bn(inp, mid, 1, 1, relu=True), conv_bn(mid, mid, k, stride, True),
                         conv_bn(mid, outputs, 1, 1, relu=True))


class Choice(nn.Module):
    def __init__(self, block, inp, out, stride, first):
        super().__init__()
        self.first = first
        self.main = main_branch(block, inp, out // 2, out - inp, stride)
        k = 3 if block == "xception" else int(block[-1])
        self.proj = nn.Sequential(conv_bn(inp, inp, k, stride, True), conv_bn(inp, inp, 1, 1, relu=True)) if first else None

    def forward(self, x):
        if self.first:
            return torch.cat((self.proj(x), self.main(x)), 1)
        n, c, h, w = x.shape
        pairs = x.reshape(n, c // 2, 2, h, w)
        return torch.cat((pairs[:, :, 0], self.main(pairs[:, :, 1].contiguous())), 1)


class Supernet(nn.Module):
    BLOCKS = ["shuffle3x3", "shuffle5x5", "shuffle7x7", "xception"]

    def __init__(self, stages=((4, 32, 1), (4, 64, 2), (8, 128, 2), (4, 256, 2)), stem=16, head=512, classes=10):
        super().__init__()
        self.stem = conv_bn(3, stem, 3, 1, relu=True)
        self.layers = nn.ModuleList()
        cin = stem
        for layers, cout, stride in stages:
            for i in range(layers):
                first = i == 0
                inp = cin if first else cin // 2
                self.layers.append(nn.ModuleList(
                    [Choice(b, inp, cout, stride if first else 1, first) for b in self.BLOCKS]))
                cin = cout
        self.head = conv_bn(cin, head, 1, 1, relu=True)
        self.classifier = nn.Linear(head, classes)

    def forward(self, x, arch):
        x = self.stem(x)
        for layer, choice in zip(self.layers, arch):
            x = layer[choice](x)
        return self.classifier(self.head(x).mean((2, 3)))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--archive", required=True)
    p.add_argument("--cache-dir", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    images, labels = load_cifar_train(args.archive, args.cache_dir)
    loader = torch.utils.data.DataLoader(CifarTrain(images[5000:], labels[5000:]), batch_size=args.batch_size,
                                         shuffle=True, drop_last=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    net = Supernet()
    net.train()
    decay = [p for p in net.parameters() if p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0}],
                          lr=0.05, momentum=0.9, nesterov=True)
    warmup, step, images_done = 5, 0, 0
    start = None
    while step < args.steps:
        for x, y in loader:
            arch = [random.randrange(4) for _ in range(len(net.layers))]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x, arch), y, label_smoothing=0.1)
            loss.backward()
            opt.step()
            step += 1
            if step == warmup:
                start = time.perf_counter()
            elif step > warmup:
                images_done += x.shape[0]
            if step >= args.steps:
                break
    seconds = time.perf_counter() - start
    print(json.dumps({"impl": "python", "batch_size": args.batch_size, "threads": args.threads,
                      "workers": args.workers, "steps": args.steps,
                      "end_to_end_images_per_second": images_done / seconds}))


if __name__ == "__main__":
    main()
