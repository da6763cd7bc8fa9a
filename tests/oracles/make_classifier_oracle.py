"""The classifier oracle (tests/oracles/classifier.safetensors) for tests/classifier.rs: the network
that scores images (src/model/classifier.rs) in PyTorch, one training-mode forward and backward under
nn.CrossEntropyLoss() and one eval-mode forward, computed in float64 from float32-representable
inputs. Beside each reference, float32 PyTorch's own error on the same inputs, the yardstick of the
test's bounds.

    python3 tests/oracles/make_classifier_oracle.py --out tests/oracles/classifier.safetensors

The model, as PyTorch writes it:

    conv = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2))
    fc = nn.Sequential(nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2),
                       nn.Linear(128, 10))

`init.param.<name>`, `init.stat.<name>`: the parameters and running statistics both cases start from.
Cases `batch` (32 images) and `odd` (7 images, rows that fill no tile), keys `<case>.<tensor>`:
  x [N,1,28,28], labels [N]   images in [0, 1] and class indices as float32
  logits [N,10], loss [1]     the training-mode forward
  grad.<name>                 every parameter's gradient
  stat_after.<name>           running statistics after the training-mode forward (momentum 0.1)
  eval_x, eval_logits, eval_features [N,128]  an eval-mode forward of other images with the updated
                              statistics; the features are fc.2's output
and for each reference r, f32_error.<r> (relative L2) and f32_abs_error.<r> (largest absolute
difference) of float32 PyTorch, [1]. fc.0's weight gradient (401,408 values) is kept at 4,096 seeded
random positions, `index.<case>.grad.fc.0.weight` (int64, sorted), as ../shared/oracle keeps its
large tensors; its float32 errors are those of the whole tensor.
"""
import argparse

import torch
from torch import nn
from safetensors.torch import save_file


def model():
    conv = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2))
    fc = nn.Sequential(nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.2),
                       nn.Linear(128, 10))
    return nn.ModuleDict({"conv": conv, "fc": fc})


def forward(m, x, features=False):
    h = m["conv"](x).flatten(1)
    if features:
        return m["fc"][:3](h)
    return m["fc"](h)


def max_abs(a, b):
    return float((a.double() - b.double()).abs().max())


def relative_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def run(m, x, labels, eval_x):
    """Everything the test compares, from model m (float32 or float64) on these inputs."""
    dtype = next(m.parameters()).dtype
    out = {}
    m.train()
    logits = forward(m, x.to(dtype))
    loss = nn.functional.cross_entropy(logits, labels)
    m.zero_grad()
    loss.backward()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(1)
    for name, p in m.named_parameters():
        out[f"grad.{name}"] = p.grad.detach().clone()
    for name, s in m.named_buffers():
        if "running" in name:
            out[f"stat_after.{name}"] = s.detach().clone()
    m.eval()
    with torch.no_grad():
        out["eval_logits"] = forward(m, eval_x.to(dtype))
        out["eval_features"] = forward(m, eval_x.to(dtype), features=True)
    return out


def initial_model(g, out):
    m = model()
    with torch.no_grad():
        for pname, p in m.named_parameters():
            if pname.endswith("weight") and p.dim() > 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif pname in ("conv.3.weight", "fc.1.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for bname, b in m.named_buffers():
            if bname.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif bname.endswith("running_var"):
                b.copy_(1 + torch.rand(b.shape, generator=g))
    for pname, p in m.named_parameters():
        out[f"init.param.{pname}"] = p.detach().clone()
    for bname, b in m.named_buffers():
        if "running" in bname:
            out[f"init.stat.{bname}"] = b.detach().clone()
    return m


SUBSAMPLED = "grad.fc.0.weight"
KEPT = 4096


def case(name, batch, m, g, out, indices):
    x = torch.rand(batch, 1, 28, 28, generator=g)
    labels = torch.randint(0, 10, (batch,), generator=g)
    eval_x = torch.rand(batch, 1, 28, 28, generator=g)
    out[f"{name}.x"] = x
    out[f"{name}.labels"] = labels.float()
    out[f"{name}.eval_x"] = eval_x
    f32 = model()
    f32.load_state_dict(m.state_dict())
    f64 = model().double()
    f64.load_state_dict(m.state_dict())
    reference = run(f64, x, labels, eval_x)
    single = run(f32, x, labels, eval_x)
    for key, r in reference.items():
        out[f"{name}.f32_error.{key}"] = torch.tensor([relative_l2(single[key], r)], dtype=torch.float32)
        out[f"{name}.f32_abs_error.{key}"] = torch.tensor([max_abs(single[key], r)], dtype=torch.float32)
        if key == SUBSAMPLED:
            kept = torch.randperm(r.numel(), generator=g)[:KEPT].sort().values
            indices[f"index.{name}.{key}"] = kept
            r = r.flatten()[kept]
        out[f"{name}.{key}"] = r.float()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/oracles/classifier.safetensors")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(args.seed)
    out, indices = {}, {}
    m = initial_model(g, out)
    case("batch", 32, m, g, out, indices)
    case("odd", 7, m, g, out, indices)
    out = {k: v.contiguous() for k, v in out.items()}
    save_file({**out, **indices}, args.out)


if __name__ == "__main__":
    main()
