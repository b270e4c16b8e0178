"""A small causal transformer (GPT-style, pre-LayerNorm, tied embeddings) for the reference policy.

Sized to train and sample on 2 CPU cores: the `tiny` preset has ~1.9M parameters and an 8192-token
context (the toy run's largest stage). Attention is written out (torch 1.13 has no fused kernel),
with a KV cache so the policy server samples in O(context) per token, and recomputation in
backward for long training sequences.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# Above this many tokens a training forward recomputes each block in backward instead of keeping
# its [t, t] attention matrices: at 8k tokens those are ~1 GB per block.
RECOMPUTE_ABOVE_TOKENS = 2048


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    max_seq_len: int = 4096
    seed: int = 0

    def to_json(self) -> dict:
        return {"architecture": "swerl-causal-lm-v1", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        fields = {k: v for k, v in data.items() if k != "architecture"}
        return cls(**fields)


PRESETS = {
    # The toy pipeline's base policy.
    "tiny": dict(d_model=128, n_layers=4, n_heads=4, d_ff=512, max_seq_len=8192),
    # The learning demo's base policy, pre-trained on demonstrations (pretrain.py) with the word
    # tokenizer: a toy transcript fits in ~500 tokens.
    "learn": dict(d_model=64, n_layers=3, n_heads=4, d_ff=256, max_seq_len=1024),
    # For tests: trains a step in milliseconds.
    "test": dict(d_model=64, n_layers=2, n_heads=2, d_ff=128, max_seq_len=512),
}


def preset_config(name: str, vocab_size: int, seed: int = 0, **overrides: int) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r} (expected one of {', '.join(PRESETS)})")
    return ModelConfig(vocab_size=vocab_size, seed=seed, **{**PRESETS[name], **overrides})


KVCache = list[tuple[torch.Tensor, torch.Tensor]]


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff_in = nn.Linear(cfg.d_model, cfg.d_ff)
        self.ff_out = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(
        self, x: torch.Tensor, bias: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, d = x.shape
        h, hd = self.n_heads, d // self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q = q.view(b, t, h, hd).transpose(1, 2) * (1.0 / math.sqrt(hd))
        k = k.view(b, t, h, hd).transpose(1, 2)
        v = v.view(b, t, h, hd).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        s = k.shape[2]
        # One fused op writes the [t, s] score matrix with the mask already added: at long
        # contexts these matrices dominate memory traffic on CPU.
        att = torch.baddbmm(
            bias.expand(b, h, t, s).reshape(b * h, t, s),
            q.reshape(b * h, t, hd),
            k.reshape(b * h, s, hd).transpose(1, 2),
        ).softmax(dim=-1)
        y = torch.bmm(att, v.reshape(b * h, s, hd)).view(b, h, t, hd).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        x = x + self.ff_out(F.gelu(self.ff_in(self.ln2(x))))
        return x, (k, v)


class CausalLM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    @classmethod
    def initialized(cls, cfg: ModelConfig) -> "CausalLM":
        """Seeded init: the same config always yields the same weights, on any machine's CPU."""
        gen = torch.Generator().manual_seed(cfg.seed)
        model = cls(cfg)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif ".ln" in name or name.startswith("ln_"):
                    p.fill_(1.0)
                else:
                    std = 0.02 / math.sqrt(2 * cfg.n_layers) if name.endswith(("proj.weight", "ff_out.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
        return model

    def forward(
        self,
        ids: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        past: KVCache | None = None,
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits [b, t, vocab] for ids [b, t]; `pad_mask` [b, past+t] is True on real tokens."""
        offset = past[0][0].shape[2] if past else 0
        t = ids.shape[1]
        if offset + t > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {offset + t} tokens exceeds the context of {self.cfg.max_seq_len}")
        pos = torch.arange(offset, offset + t, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)[None]
        s = offset + t
        # Additive mask: query i (absolute position offset + i) sees keys 0..offset + i.
        allowed = torch.ones(t, s, dtype=torch.bool, device=ids.device).tril(diagonal=offset).view(1, 1, t, s)
        if pad_mask is not None:
            allowed = allowed & pad_mask.view(-1, 1, 1, s)
        bias = torch.zeros(allowed.shape, dtype=x.dtype, device=ids.device).masked_fill_(~allowed, float("-inf"))
        cache: KVCache = []
        if self.training and torch.is_grad_enabled() and t > RECOMPUTE_ABOVE_TOKENS:
            for block in self.blocks:
                x = checkpoint(lambda h, blk=block: blk(h, bias, None)[0], x)
            return self.ln_f(x) @ self.tok_emb.weight.T, cache
        for i, block in enumerate(self.blocks):
            x, kv = block(x, bias, past[i] if past else None)
            cache.append(kv)
        logits = self.ln_f(x) @ self.tok_emb.weight.T
        return logits, cache


def token_logprobs(logits: torch.Tensor, target_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log pi(target) under softmax(logits / temperature): the sampler's distribution at that temperature."""
    logp = F.log_softmax(logits.float() / temperature, dim=-1)
    return logp.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
