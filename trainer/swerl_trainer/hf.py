"""Hugging Face causal LMs as swerl policies: any `transformers` causal-LM directory in, the same
format out.

A checkpoint directory is what `save_pretrained` writes for the model (config.json with its
`model_type`, model.safetensors or a sharded index) and for its fast tokenizer (tokenizer.json,
tokenizer_config.json with a `chat_template`), plus swerl's own files next to them:
optimizer.safetensors (AdamW moments), swerl_step.json (the exactly-once record) and swerl.json
(lineage). transformers, vLLM and SGLang read such a directory unchanged and ignore the extra files.

The trainer's loss and step code (train.py, losses.py, batch.py) and the sampler (sampling.py) are
the same as for the native CPU model: `HFCausalLM` gives them the same `forward(ids, past=...) ->
(logits, cache)` and `cfg.max_seq_len`, and `HFTokenizer` the same chat-template interface
(`encode_message`, `encode_prompt`, the assistant header and end token).

Nothing here downloads: `create_base` makes a small Qwen2- or Llama-config model with seeded random
weights and a byte-level BPE tokenizer trained here with `tokenizers` on the given texts.

transformers is imported lazily (it needs torch 2.x; the native CPU path runs on Debian's 1.13).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn as nn

from .errors import CHECKPOINT_INVALID, TrainerFault
from .tokenizer import ROLES, ChatMessage, Tokenizer

SWERL_META_FILE = "swerl.json"
# ChatML, as Qwen2 uses it; observations (role tool) are user turns, as core/transcript.ts sends them.
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ 'user' if m['role'] == 'tool' else m['role'] }}\n"
    "{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Architectures create_base knows, by transformers config class; both are what vLLM/SGLang serve.
ARCHITECTURES = ("qwen2", "llama")
SIZES = {
    # The CPU toy: trains a step in well under a second on 2 cores.
    "test": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "small": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2),
    # The learning demo's base (pretrain.py --arch qwen2|llama --preset learn): the native `learn`
    # preset's width, depth and heads; the gated MLP's width is 2/3 of the native d_ff (256), rounded
    # up to a multiple of 16 as Llama does, so a token costs about the same multiply-adds.
    "learn": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4),
}
_SENTINEL = "\ue000swerl-content\ue001"


def device() -> torch.device:
    """`SWERL_TRAINER_DEVICE` (cpu | cuda | cuda:N), else cuda when present, else cpu."""
    want = os.environ.get("SWERL_TRAINER_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype(dev: torch.device) -> torch.dtype:
    """`SWERL_TRAINER_DTYPE` (float32 | bfloat16), else bf16 on a GPU and fp32 on CPU."""
    want = os.environ.get("SWERL_TRAINER_DTYPE")
    if want:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[want]
    return torch.bfloat16 if dev.type == "cuda" else torch.float32


@dataclass(frozen=True)
class HFConfigView:
    """What the step loop and the sampler read from a model config."""

    vocab_size: int
    max_seq_len: int


class HFCausalLM(nn.Module):
    """A transformers causal LM behind the native model's interface: logits [b, t, v] and a KV cache."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.hf = model
        c = model.config
        self.cfg = HFConfigView(vocab_size=int(c.vocab_size), max_seq_len=int(getattr(c, "max_position_embeddings", 2048)))

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None, past: Any = None) -> tuple[torch.Tensor, Any]:
        offset = past.get_seq_length() if past is not None else 0
        if offset + ids.shape[1] > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {offset + ids.shape[1]} tokens exceeds the context of {self.cfg.max_seq_len}")
        dev = self.hf.device
        use_cache = not (self.training and torch.is_grad_enabled())
        out = self.hf(
            input_ids=ids.to(dev),
            attention_mask=pad_mask.to(dev).long() if pad_mask is not None else None,
            cache=past,  # transformers 5.x's name for past_key_values
            use_cache=use_cache,
        )
        return out.logits, (out.cache if use_cache else None)


def _byte_decoder() -> dict[str, int]:
    """The GPT-2 byte <-> printable-character table of ByteLevel BPE, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class HFTokenizer(Tokenizer):
    """A fast transformers tokenizer with a chat template, laid out message by message.

    The template is probed once: each message must render as prefix(role) + content + suffix(role)
    independently of the others (ChatML, Llama-3 and Qwen2.5 templates do, given a system message),
    the generation prompt must equal the assistant prefix, and the assistant suffix must start with
    the eos token the sampler stops at. A template that rewrites earlier turns (e.g. one that strips
    reasoning from past assistant turns) is refused: the trainer could not lay a trajectory out as
    the sampler saw it. Template text is tokenized with special tokens; message content never is,
    so a literal `<|im_end|>` in an observation cannot forge a turn boundary.
    """

    CHAT_TEMPLATE = "the checkpoint's own (tokenizer_config.json chat_template), probed message by message"

    def __init__(self, hf_tok: Any, model_vocab: int) -> None:
        from tokenizers import Tokenizer as RawTokenizer

        if not getattr(hf_tok, "is_fast", False):
            raise TrainerFault(CHECKPOINT_INVALID, "swerl needs a fast (tokenizer.json) tokenizer")
        if not hf_tok.chat_template:
            raise TrainerFault(CHECKPOINT_INVALID, "the tokenizer has no chat_template")
        if hf_tok.eos_token_id is None:
            raise TrainerFault(CHECKPOINT_INVALID, "the tokenizer has no eos token (the sampler's stop token)")
        if len(hf_tok) > model_vocab:
            raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer has {len(hf_tok)} ids but the model only {model_vocab}")
        self.hf = hf_tok
        self.vocab_size = model_vocab
        self.end_id = int(hf_tok.eos_token_id)
        self.pad_id = int(hf_tok.pad_token_id) if hf_tok.pad_token_id is not None else self.end_id
        self.special_by_id = {int(i): t for t, i in zip(hf_tok.all_special_tokens, hf_tok.all_special_ids)}
        for i, t in hf_tok.added_tokens_decoder.items():
            if t.special:
                self.special_by_id[int(i)] = t.content
        self.special = {t: i for i, t in self.special_by_id.items()}
        # Content is encoded with special tokens as plain text.
        self._content = RawTokenizer.from_str(hf_tok.backend_tokenizer.to_str())
        self._content.encode_special_tokens = True
        self._template = RawTokenizer.from_str(hf_tok.backend_tokenizer.to_str())
        pre = json.loads(hf_tok.backend_tokenizer.to_str()).get("decoder") or {}
        self._bytes_table = _byte_decoder() if pre.get("type") == "ByteLevel" else None
        self._prefix, self._suffix, gen = self._probe()
        self.assistant_prefix = self._ids(self._prefix["assistant"])
        self.assistant_id = self.assistant_prefix[-1]
        suffix = self._ids(self._suffix["assistant"])
        if not suffix or suffix[0] != self.end_id or gen != self._prefix["assistant"]:
            raise TrainerFault(
                CHECKPOINT_INVALID,
                f"chat template: an assistant turn must end with the eos token {hf_tok.eos_token!r} and the generation "
                f"prompt must equal the assistant prefix (suffix {self._suffix['assistant']!r}, prompt {gen!r})",
            )
        self.after_end = suffix[1:]

    def _render(self, msgs: list[dict[str, str]], gen: bool = False) -> str:
        return self.hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    def _probe(self) -> tuple[dict[str, str], dict[str, str], str]:
        conv = [{"role": r, "content": f"{_SENTINEL}{r}"} for r in ("system", "user", "assistant", "user")]
        prefix: dict[str, str] = {}
        suffix: dict[str, str] = {}
        prev = ""
        for k in range(1, len(conv) + 1):
            text = self._render(conv[:k])
            if not text.startswith(prev):
                raise TrainerFault(CHECKPOINT_INVALID, "chat template re-renders earlier messages when one is added; swerl needs a per-message template")
            piece = text[len(prev):]
            marker = conv[k - 1]["content"]
            if piece.count(marker) != 1:
                raise TrainerFault(CHECKPOINT_INVALID, f"chat template does not render message content verbatim ({piece!r})")
            pre, post = piece.split(marker)
            role = conv[k - 1]["role"]
            if prefix.get(role, pre) != pre or suffix.get(role, post) != post:
                raise TrainerFault(CHECKPOINT_INVALID, f"chat template renders {role} messages differently by position")
            prefix[role], suffix[role] = pre, post
            prev = text
        base = self._render(conv[:2])
        gen = self._render(conv[:2], gen=True)[len(base):]
        tool = self._render([*conv[:2], {"role": "tool", "content": _SENTINEL + "user"}])[len(base):]
        if tool != prefix["user"] + _SENTINEL + "user" + suffix["user"]:
            raise TrainerFault(CHECKPOINT_INVALID, "chat template must render role tool as a user message (as the rollout side sends it)")
        return prefix, suffix, gen

    @lru_cache(maxsize=64)
    def _ids(self, template_text: str) -> list[int]:
        return list(self._template.encode(template_text, add_special_tokens=False).ids)

    # --- the Tokenizer interface --------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(self._content.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode([i for i in ids if i not in self.special_by_id], skip_special_tokens=True)

    def token_bytes(self, token_id: int) -> bytes:
        piece = self.hf.convert_ids_to_tokens(int(token_id))
        if piece is None:
            return b""
        if self._bytes_table is not None and token_id not in self.special_by_id:
            return bytes(self._bytes_table[c] for c in piece if c in self._bytes_table)
        return self.hf.decode([int(token_id)]).encode("utf-8")

    def token_str(self, token_id: int) -> str:
        piece = self.hf.convert_ids_to_tokens(int(token_id))
        return piece if piece is not None else f"<|unused_{token_id}|>"

    def role_header(self, role: str) -> int:
        raise NotImplementedError("HF chat templates have multi-token headers: use encode_message")

    def encode_message(self, role: str, content: str) -> list[int]:
        if role not in ROLES:
            raise ValueError(f"unknown chat role {role!r} (expected one of {', '.join(ROLES)})")
        r = "user" if role == "tool" else role
        return [*self._ids(self._prefix[r]), *self.encode(content), *self._ids(self._suffix[r])]

    def encode_prompt(self, messages: Sequence[ChatMessage]) -> list[int]:
        ids: list[int] = []
        for m in messages:
            ids.extend(self.encode_message(m.role, m.content))
        return ids + self.assistant_prefix

    def to_json(self) -> dict:
        return {"type": "transformers", "class": type(self.hf).__name__, "vocab": len(self.hf)}

    def save(self, path: Path) -> None:
        self.hf.save_pretrained(str(path))


def load(path: Path) -> tuple[HFCausalLM, HFTokenizer]:
    """Model (on `device()`, in `dtype()`, eval mode) and tokenizer of a transformers directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the worker's and server's stdout/stderr are JSON lines and logs
    dev = device()
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype(dev)).to(dev)
    model.eval()
    if os.environ.get("SWERL_TRAINER_GRADIENT_CHECKPOINTING") == "1":
        model.gradient_checkpointing_enable()
    tok = AutoTokenizer.from_pretrained(str(path))
    return HFCausalLM(model), HFTokenizer(tok, int(model.config.vocab_size))


def save(dirpath: Path, model: HFCausalLM, tokenizer: HFTokenizer) -> None:
    """`save_pretrained` of model (safetensors) and tokenizer into `dirpath`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # stderr of the worker and of pre-training is for logs
    model.hf.save_pretrained(str(dirpath), safe_serialization=True)
    tokenizer.hf.save_pretrained(str(dirpath))


DEFAULT_CORPUS = (
    "You are a software engineer. Fix the issue in the repository.",
    "Let me look.\n```\nopen app.py\n```",
    "```\nedit 3:3\n    return x + 1\nend_of_edit\n```",
    "```\nsubmit\n```",
    "(Open file: /repo/app.py) (Current directory: /repo) bash-$",
    "def f(x):\n    return x * 2\n\nprint(f(21))\n",
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512, min_frequency: int = 0) -> Any:
    """A byte-level BPE tokenizer (any text encodes) trained here, with the ChatML specials and template.

    Digits are split one by one before byte-level BPE, as the Qwen2 and Llama tokenizers do: the
    learning demo's policy must copy a line number from the issue into `sed -i 'Nd' app.py`, which
    the native model learned with digit tokens and never with whole-number tokens
    (docs/learn-demo-attempts.md, section 4)."""
    from tokenizers import Tokenizer as RawTokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = RawTokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, chat_template=CHATML_TEMPLATE
    )


def new_model(tok: Any, arch: str = "qwen2", size: str = "test", seed: int = 0, max_seq_len: int = 1024) -> HFCausalLM:
    """An `arch`-config causal LM of `size` for the tokenizer `tok`, with weights seeded by `seed`
    (on CPU, in float32)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if arch not in ARCHITECTURES or size not in SIZES:
        raise ValueError(f"unknown architecture {arch!r} or size {size!r} (expected {ARCHITECTURES} and {tuple(SIZES)})")
    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
    config = config_cls(
        vocab_size=len(tok),
        max_position_embeddings=max_seq_len,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        **SIZES[size],
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return HFCausalLM(model)


def create_base(
    dirpath: Path,
    arch: str = "qwen2",
    size: str = "test",
    seed: int = 0,
    max_seq_len: int = 1024,
    texts: Iterable[str] | None = None,
    vocab_size: int = 512,
) -> None:
    """A `arch`-config causal LM with seeded random weights and a tokenizer trained on `texts`,
    written with save_pretrained into `dirpath` (which must not exist yet)."""
    if arch not in ARCHITECTURES or size not in SIZES:
        raise ValueError(f"unknown architecture {arch!r} or size {size!r} (expected {ARCHITECTURES} and {tuple(SIZES)})")
    tok = train_tokenizer(texts if texts is not None else DEFAULT_CORPUS, vocab_size)
    model = new_model(tok, arch, size, seed, max_seq_len)
    dirpath.mkdir(parents=True)
    model.hf.save_pretrained(str(dirpath), safe_serialization=True)
    tok.save_pretrained(str(dirpath))
    (dirpath / SWERL_META_FILE).write_text(
        json.dumps({"created_from": {"architecture": arch, "size": size, "seed": seed, "max_seq_len": max_seq_len, "tokenizer_vocab": len(tok)}}, indent=2)
        + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(
        prog="swerl_trainer.hf",
        description="Create a Hugging Face base policy with random weights (nothing downloaded): "
        "a Qwen2- or Llama-config causal LM and a byte-level BPE tokenizer trained on --corpus "
        "(text lines; default: a few built-in lines), written with save_pretrained.",
    )
    p.add_argument("--out", required=True, help="directory to create (e.g. <checkpoints>/hf-base)")
    p.add_argument("--arch", choices=ARCHITECTURES, default="qwen2")
    p.add_argument("--size", choices=tuple(SIZES), default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seq-len", type=int, default=1024)
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--corpus", default=None, help="UTF-8 text file the tokenizer is trained on")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        print(json.dumps({"event": "hf_base_exists", "path": str(out.resolve())}), flush=True)
        return
    texts = Path(args.corpus).read_text(encoding="utf-8").splitlines() if args.corpus else None
    create_base(out, args.arch, args.size, args.seed, args.max_seq_len, texts, args.vocab_size)
    print(json.dumps({"event": "hf_base_created", "path": str(out.resolve()), **json.loads((out / SWERL_META_FILE).read_text())}), flush=True)


if __name__ == "__main__":
    main()
