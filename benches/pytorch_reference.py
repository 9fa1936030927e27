"""The rows of `pipeline bench` in PyTorch: the same networks, regimes and batches.

    python3 benches/pytorch_reference.py [--threads N] [--iterations N] [--batch N]
        [--device cpu|cuda] [--network mini|resnet50|all] [--blocks 0,1,3,9]
        [--precision fp32|tf32|bf16]

On `--device cuda` it times what `pipeline --device cuda bench --network resnet50 --blocks …
--precision …` times: in fp32 with TF32 off for cuDNN and cuBLAS (PyTorch's own default for
convolutions is TF32), in tf32 with TF32 on for cuDNN's convolutions only (as the project's
tf32: the classifier's matrix product stays fp32), or in bf16 under autocast to bfloat16 with
TF32 off (PyTorch's mixed precision: unlike the project's bf16, which rounds only the
convolutions' operands and results and keeps every tensor in fp32, autocast keeps the
activations in bfloat16 between layers, and runs the classifier in bfloat16), cuDNN's
autotuner on (`benchmark`, as a user
would run it), synchronising before each clock read; the ResNet-50 row takes the batch and
iterations given (on the CPU at most 16 and 3).
"N blocks" trains the last N bottleneck blocks and `fc`.

A reference outside the Rust build, for the ratio in `pipeline bench`'s goal (issue #12): run it
and `pipeline bench --network all` on the same machine, one after the other, with the same thread
count. It needs only `torch` (`pip install torch`). The network is written out here rather than
taken from torchvision so that the width multiplier and the small stem match the project's
(`stages/src/nn/layout.rs`): torchvision's ResNet-50 layout ([3, 4, 6, 3] bottlenecks, expansion
4, stride on conv2, 1×1 downsample on each layer's first block), planes width·(1, 2, 4, 8); the
small stem is a 3×3 stride-1 convolution without max-pool, the ImageNet stem torchvision's 7×7
stride 2 with max-pool. "3 blocks" trains `layer4` and `fc` with every frozen BatchNorm in
training mode (the authors' code); "all" trains everything. SGD with momentum 0.9, weight decay
5e-4, cross-entropy, random [0, 1] inputs; one warm-up step is not timed.
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = 10


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    def __init__(self, width, small_stem):
        super().__init__()
        if small_stem:
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.small_stem = small_stem
        self.bn1 = nn.BatchNorm2d(width)
        layers, inplanes = [], width
        for i, blocks in enumerate([3, 4, 6, 3]):
            planes = width * 2**i
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(inplanes, planes, 2 if (b == 0 and i > 0) else 1))
                inplanes = planes * 4
            layers.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(inplanes, CLASSES)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        if not self.small_stem:
            h = F.max_pool2d(h, 3, 2, 1)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            h = layer(h)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(batch, iterations, step, device):
    step()
    sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    sync(device)
    return batch * iterations / (time.perf_counter() - start)


def row(name, width, small_stem, side, trains, batch, iterations, device, bf16=False):
    torch.manual_seed(1)
    net = ResNet50(width, small_stem).to(device)
    net.train()  # every BatchNorm in training mode, frozen ones included
    blocks = [b for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
    trained = list(net.fc.parameters())
    if trains == "all":
        trained = list(net.parameters())
    else:
        n = int(trains.split()[0])
        trained += [p for b in blocks[len(blocks) - n :] for p in b.parameters()] if n else []
    for p in net.parameters():
        p.requires_grad = False
    for p in trained:
        p.requires_grad = True
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 3, side, side, device=device)
    y = torch.arange(batch, device=device) % CLASSES

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def forward():
        with torch.no_grad(), autocast():
            net(x)

    def train():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    fwd = images_per_second(batch, iterations, forward, device)
    step = images_per_second(batch, iterations, train, device)
    print(
        f"{name:<10} {f'{side}x{side}':>7} {trains:>9} {batch:>5} {iterations:>5}"
        f" {fwd:>15.1f} {step:>18.1f}"
    )


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--threads", type=int, default=torch.get_num_threads())
    args.add_argument("--iterations", type=int, default=20)
    args.add_argument("--batch", type=int, default=32)
    args.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args.add_argument("--network", default="all", choices=["mini", "resnet50", "all"])
    args.add_argument("--blocks", default="3", help="ResNet-50 rows: blocks trained, comma-separated")
    args.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    a = args.parse_args()
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    if device.type == "cuda":
        torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        how = {
            "fp32": "fp32 (TF32 off)",
            "tf32": "tf32 (TF32 on for convolutions)",
            "bf16": "bf16 (autocast to bfloat16, TF32 off)",
        }[a.precision]
        print(f"PyTorch {torch.__version__}, {torch.cuda.get_device_name(device)}, {how}")
    elif a.precision != "fp32":
        args.error(f"--precision {a.precision} is a GPU's: use --device cuda")
    else:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(
        f"{'network':<10} {'input':>7} {'trains':>9} {'batch':>5} {'iters':>5}"
        f" {'forward img/s':>15} {'train step img/s':>18}"
    )
    bf16 = a.precision == "bf16"
    if a.network in ("mini", "all"):
        for name, width, side in [("mini w8", 8, 32), ("mini w4", 4, 16)]:
            for trains in ["3 blocks", "all"]:
                row(name, width, True, side, trains, a.batch, a.iterations, device, bf16)
    if a.network in ("resnet50", "all"):
        batch, iterations = a.batch, a.iterations
        if device.type == "cpu":
            batch, iterations = min(batch, 16), min(iterations, 3)
        for blocks in a.blocks.split(","):
            trains = f"{int(blocks)} blocks"
            row("resnet50", 64, False, 224, trains, batch, iterations, device, bf16)


if __name__ == "__main__":
    main()
