"""The cross-entropy oracle (tests/oracles/cross_entropy.safetensors) for tests/cross_entropy.rs:
PyTorch's nn.CrossEntropyLoss() (mean over rows) of logits against class labels, and its gradient at
the logits, computed in float64 from float32-representable inputs, as ../shared/oracle's make_oracle.py
computes its references (it has no cross-entropy case). Beside each reference, float32 PyTorch's own
relative error on the same inputs, the yardstick the test's bounds are set by.

    python3 tests/oracles/make_cross_entropy_oracle.py --out tests/oracles/cross_entropy.safetensors

Cases (keys `<case>.<tensor>`: logits [N, C], labels [N] as float32 class indices, loss [1], dlogits
[N, C]; float32 PyTorch's errors f32_error_<loss|dlogits> (relative L2) and f32_abs_error_<...>
(largest absolute difference), each [1]):
  batch      128 rows of 10 classes, logits N(0, 3): a classifier's training batch
  many_rows  1000 rows (more than one workgroup's 256 lanes per row loop), logits N(0, 1)
  confident  64 rows whose labelled logit is 30 above the rest (loss near 0, gradients ~1e-13)
  wrong      64 rows whose labelled logit is 30 below the rest (loss ~30)
  huge       16 rows of logits around ±1e4: exp overflows float32 unless the row's maximum is taken out
"""
import argparse

import torch
from safetensors.torch import save_file


def max_abs(a, b):
    return float((a.double() - b.double()).abs().max())


def relative_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def case(name, logits, labels, out):
    logits = logits.float()  # inputs exactly representable in float32
    ref_in = logits.double().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(ref_in, labels)
    loss.backward()
    f32_in = logits.clone().requires_grad_(True)
    f32_loss = torch.nn.functional.cross_entropy(f32_in, labels)
    f32_loss.backward()
    out[f"{name}.logits"] = logits
    out[f"{name}.labels"] = labels.float()
    out[f"{name}.loss"] = loss.detach().float().reshape(1)
    out[f"{name}.dlogits"] = ref_in.grad.float()
    out[f"{name}.f32_error_loss"] = torch.tensor([relative_l2(f32_loss.detach(), loss.detach())], dtype=torch.float32)
    out[f"{name}.f32_error_dlogits"] = torch.tensor([relative_l2(f32_in.grad, ref_in.grad)], dtype=torch.float32)
    out[f"{name}.f32_abs_error_loss"] = torch.tensor([max_abs(f32_loss.detach(), loss.detach())], dtype=torch.float32)
    out[f"{name}.f32_abs_error_dlogits"] = torch.tensor([max_abs(f32_in.grad, ref_in.grad)], dtype=torch.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/oracles/cross_entropy.safetensors")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(args.seed)
    out = {}
    classes = 10

    def labels(n):
        return torch.randint(0, classes, (n,), generator=g)

    y = labels(128)
    case("batch", 3 * torch.randn(128, classes, generator=g), y, out)
    y = labels(1000)
    case("many_rows", torch.randn(1000, classes, generator=g), y, out)
    for name, shift in [("confident", 30.0), ("wrong", -30.0)]:
        y = labels(64)
        z = torch.randn(64, classes, generator=g)
        z[torch.arange(64), y] += shift
        case(name, z, y, out)
    y = labels(16)
    case("huge", 1e4 * torch.randn(16, classes, generator=g), y, out)
    save_file(out, args.out)


if __name__ == "__main__":
    main()
