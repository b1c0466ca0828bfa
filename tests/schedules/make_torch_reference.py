"""Writes torch_reference.json: PyTorch's OneCycleLR and CyclicLR, step by step.

Not a test: run it by hand (needs `pip install torch==2.13.0`) when the
argument sets below change. The tests read the JSON, so CI needs no torch.

    python tests/schedules/make_torch_reference.py
"""

import json
import pathlib

import torch

ONE_CYCLE = [
    dict(max_lr=0.1, total_steps=100),
    dict(max_lr=0.01, total_steps=37, pct_start=0.25, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=1.0, total_steps=50, pct_start=0.3, three_phase=True, base_momentum=0.8, max_momentum=0.9),
    dict(max_lr=0.5, total_steps=10, pct_start=0.05),
    dict(max_lr=0.3, total_steps=7, pct_start=0.4, three_phase=True, anneal_strategy="linear"),
]
CYCLIC = [
    dict(base_lr=0.001, max_lr=0.006, step_size_up=5),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode="triangular2"),
    dict(base_lr=0.0, max_lr=1.0, step_size_up=3, step_size_down=5, mode="exp_range", gamma=0.97),
    dict(base_lr=0.1, max_lr=0.2, step_size_up=2.5, base_momentum=0.7, max_momentum=0.95),
]
CYCLIC_STEPS = 60


def run(scheduler_cls, kwargs, steps, use_beta1):
    param = torch.nn.Parameter(torch.zeros(1))
    if use_beta1:
        optimizer = torch.optim.Adam([param], lr=0.1)
    else:
        optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = scheduler_cls(optimizer, **kwargs)
    rates, momenta = [], []
    for _ in range(steps):
        group = optimizer.param_groups[0]
        rates.append(group["lr"])
        momenta.append(group["betas"][0] if use_beta1 else group["momentum"])
        optimizer.step()
        scheduler.step()
    return rates, momenta


def main():
    out = {"torch_version": torch.__version__, "one_cycle": [], "cyclic": []}
    for kwargs in ONE_CYCLE:
        rates, momenta = run(torch.optim.lr_scheduler.OneCycleLR, kwargs, kwargs["total_steps"], False)
        _, betas = run(torch.optim.lr_scheduler.OneCycleLR, kwargs, kwargs["total_steps"], True)
        out["one_cycle"].append({"kwargs": kwargs, "lr": rates, "momentum": momenta, "beta_1": betas})
    for kwargs in CYCLIC:
        rates, momenta = run(torch.optim.lr_scheduler.CyclicLR, kwargs, CYCLIC_STEPS, False)
        _, betas = run(torch.optim.lr_scheduler.CyclicLR, kwargs, CYCLIC_STEPS, True)
        out["cyclic"].append({"kwargs": kwargs, "lr": rates, "momentum": momenta, "beta_1": betas})
    path = pathlib.Path(__file__).with_name("torch_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
