"""ULMFiT's fine-tuning schedule (Howard & Ruder 2018): discriminative learning rates per
layer group, and gradual unfreezing with a warm-up for each newly unfrozen group."""
import torch


def make_optimizer(model, cfg):
    """One parameter group per layer group when discriminative rates or unfreezing are on
    (group k below the top gets lr / discriminative_lr**k), else a single group."""
    if cfg.discriminative_lr != 1.0 or cfg.gradual_unfreezing:
        layers = model.layer_groups()  # bottom -> top
        n = len(layers)
        groups = [{"params": ps, "base_lr": cfg.lr / cfg.discriminative_lr ** (n - 1 - i)}
                  for i, ps in enumerate(layers)]
    else:
        groups = [{"params": list(model.parameters()), "base_lr": cfg.lr}]
    for g in groups:
        g["lr"] = g["base_lr"]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def unfreeze(optimizer, cfg, state, epoch_batches: int) -> None:
    """Gradual unfreezing: in epoch e only the top e+1 layer groups train, so the fresh
    head settles before it sends gradients into pretrained layers. The step at which a
    group was unfrozen goes into the run state, so a resumed run ramps exactly as before."""
    if not cfg.gradual_unfreezing:
        return
    groups = optimizer.param_groups
    first_trained = max(0, len(groups) - 1 - state.epoch)
    for i, g in enumerate(groups):
        for p in g["params"]:
            p.requires_grad_(i >= first_trained)
    if state.epoch > 0 and first_trained not in state.unfrozen:
        state.unfrozen[first_trained] = [state.step, round(cfg.unfreeze_warmup * epoch_batches)]


def unfreeze_ramp(unfrozen, step: int) -> float:
    """Rate factor of a layer group unfrozen mid-run: a linear rise over its ramp steps.
    Its Adam moments start at zero, and Adam's first steps then move every weight by about
    the full rate whatever its gradient; at the schedule's peak that undoes the pretrained
    layer (the same cause as Adam's need for warmup, Liu et al. 2020)."""
    if unfrozen is None or not unfrozen[1]:
        return 1.0
    start, ramp = unfrozen
    return min(1.0, (step - start + 1) / ramp)


def set_rates(optimizer, factor: float, state) -> None:
    """Each group's rate: its base rate times the schedule's factor and its ramp."""
    for i, g in enumerate(optimizer.param_groups):
        g["lr"] = g["base_lr"] * factor * unfreeze_ramp(state.unfrozen.get(i), state.step)
