"""Images per second of the PyTorch DCGAN's G in eval mode: the peer of `gan-wgpu sample --count N
--format safetensors` (BENCHMARKS.md). The model as README describes it (the original's G), initial
weights (the work does not depend on them), noise uniform [0, 1).

    python scripts/pytorch_sample_rate.py [--count 10000] [--batch 512] [--threads 2] [--device cpu|cuda]
"""
import argparse
import time

import torch
import torch.nn as nn


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(62, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid(),
        )

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, 128, 7, 7))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = Generator().to(a.device).eval()
    z = torch.rand(a.count, 62, device=a.device)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        g(z[: a.batch]).cpu()
        for _ in range(a.rounds):
            sync()
            start = time.perf_counter()
            # Each batch's images come back to the host, as `gan-wgpu sample` reads each chunk back.
            for i in range(0, a.count, a.batch):
                g(z[i : i + a.batch]).cpu()
            sync()
            seconds = time.perf_counter() - start
            print(f"{a.device}, {a.threads} threads, batch {a.batch}: {a.count / seconds:.0f} images/s ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
