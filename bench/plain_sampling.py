"""The plain PyTorch side of bench/sample_speed.py: textrnn's LSTM language model copied
into nn.Embedding + one multi-layer nn.LSTM + nn.Linear, and the two ways such a model
is commonly sampled (a stateful loop, and re-running the prefix at every step)."""
import torch
from torch import nn


class PlainLM(nn.Module):
    """ids (B, T), state -> logits (B, T, V), (h, c) each (L, B, H)."""

    def __init__(self, vocab: int, embed_dim: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        h, state = self.lstm(self.embed(ids), state)  # (B, T, H)
        return self.proj(h), state


@torch.no_grad()
def plain_copy(model) -> PlainLM:
    """A PlainLM computing the same function as textrnn's model (one nn.LSTM per layer
    there, one multi-layer nn.LSTM here)."""
    cfg = model.cfg
    enc = cfg.encoder
    plain = PlainLM(cfg.vocab_size, enc.embed_dim, enc.hidden_size, enc.num_layers)
    plain.embed.weight.copy_(model.encoder.embed.weight)
    for i, layer in enumerate(model.encoder.layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(plain.lstm, f"{name}_l{i}").copy_(getattr(layer, f"{name}_l0"))
    plain.proj.load_state_dict(model.head.proj.state_dict())
    return plain.to(next(model.parameters()).device).eval()


@torch.no_grad()
def check_same_function(model, plain, ids: list[int]):
    """Refuse to compare networks that do not compute the same logits."""
    x = torch.tensor([ids], device=next(model.parameters()).device)  # (1, P)
    ours, _ = model(x)
    theirs, _ = plain(x)
    if not torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4):
        raise SystemExit("the plain copy does not reproduce textrnn's logits")


@torch.no_grad()
def plain_loop(plain, prompt_ids: list[int], length: int, batch: int, seed: int):
    """Stateful sampling: the prompt once, then one (B, 1) step per token."""
    device = plain.proj.weight.device
    gen = torch.Generator(device=device).manual_seed(seed)
    logits, (h, c) = plain(torch.tensor([prompt_ids], device=device))  # (1, P, V)
    state = (h.repeat(1, batch, 1), c.repeat(1, batch, 1))  # (L, B, H): every sample alike
    logits = logits[:, -1].expand(batch, -1)  # (B, V)
    out = torch.empty(batch, length, dtype=torch.long, device=device)
    for t in range(length):
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)  # (B, 1)
        out[:, t] = nxt[:, 0]
        logits, state = plain(nxt, state)  # (B, 1, V)
        logits = logits[:, -1]
    return out


@torch.no_grad()
def prefix_rerun(plain, prompt_ids: list[int], length: int, seed: int):
    """Stateless sampling: step t runs all P + t tokens so far again, batch 1."""
    device = plain.proj.weight.device
    gen = torch.Generator(device=device).manual_seed(seed)
    seq = torch.tensor([prompt_ids], device=device)  # (1, P)
    for _ in range(length):
        logits, _ = plain(seq)  # (1, P + t, V), from a zero state every time
        nxt = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=gen)  # (1, 1)
        seq = torch.cat([seq, nxt], 1)
    return seq
