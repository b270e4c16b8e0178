"""Pre-train a base policy on scripted demonstrations (the learning demo's base model, issue 7).

  python -m swerl_trainer.pretrain --corpus demos.jsonl --checkpoints DIR --id learn-base \\
      [--arch native|qwen2|llama] [--preset learn] [--steps 300] [--batch-size 16] [--lr 3e-3] [--warmup 20] [--weight-decay 0.1] \\
      [--seed 0] [--threads 2] [--max-seq-len L] [--min-count 2] [--max-vocab 4096]

Corpus: JSONL, one demonstration per line, {"task_id", "mode", "messages": [{"role", "content",
"format_error"?}]} with roles system | user | assistant | tool (tool = an observation).
A word tokenizer (swerl-words-v1) is built from all message texts, a seeded model of the preset is
trained with the SFT loss on assistant tokens only (format-error turns masked), laid out exactly
as batch.encode_sample and the policy server lay a conversation out. The result is an ordinary
checkpoint `<checkpoints>/<id>` without optimizer state (RFT starts its own AdamW), whose
config.json holds a `pretrained` record (corpus sha256, hyper-parameters, losses, speed).

--arch qwen2 | llama (the trainer's HF venv, `trainer/install.sh --hf`): the base is instead a
transformers model of that config and the size `--preset` names in hf.SIZES, with seeded random
weights, and a byte-level BPE tokenizer trained here with `tokenizers` on the same texts (digits
split one by one, as Qwen2's and Llama's are; --min-count is its minimum pair frequency and
--max-vocab its number of merges at most); the same loop, loss, probes and record, written with
save_pretrained (the record is in swerl.json), so AutoModelForCausalLM / AutoTokenizer load it.

Cached: if `<id>` already holds a checkpoint pre-trained from the same corpus bytes and
hyper-parameters, nothing is trained (exit 0, event pretrain_cached); any other checkpoint there
is refused with SWERL_TRAINER_STEP_CONFLICT (exit 2), never overwritten.
stdout: one JSON line per event (pretrain_progress every --log-every steps, then pretrain_done |
pretrain_cached | pretrain_failed).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from . import checkpoint as ckpt
from . import hf
from .batch import EncodedSample, encode_sample, micro_batches
from .errors import TRAINER_BAD_BATCH, TRAINER_STEP_CONFLICT, TrainerFault
from .first_action import probe_policy, read_prompts
from .losses import sft_loss
from .model import PRESETS, CausalLM, preset_config
from .tokenizer import ROLES, Tokenizer, WordTokenizer

Emit = Callable[[dict[str, Any]], None]
RECORD_KEY = "pretrained"
# Losses of the last steps averaged into `final_loss` (one step's batch loss is noisy).
FINAL_LOSS_WINDOW = 10
# Context of a qwen2 | llama base when --max-seq-len is not given (hf.SIZES hold no context).
HF_MAX_SEQ_LEN = 1024


@dataclass(frozen=True)
class PretrainHyper:
    """Everything that determines the weights; the cache key together with the corpus hash."""

    preset: str = "learn"
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.1
    seed: int = 0
    max_seq_len: int = 1024
    min_count: int = 2
    max_vocab: int = 4096
    grad_clip: float = 1.0
    # Last, and left out of a native checkpoint's record (`hyper_record`): native records written
    # before --arch existed stay valid cache entries, byte for byte.
    arch: str = "native"


NATIVE = "native"


def hyper_record(h: PretrainHyper) -> dict[str, Any]:
    """The hyper-parameters as recorded in the checkpoint (and compared by the cache)."""
    rec = asdict(h)
    if h.arch == NATIVE:
        del rec["arch"]
    return rec


@dataclass(frozen=True)
class Probe:
    """Greedy first actions on these prompts (first_action.py) every `every` steps and at the end:
    whether the base reads the issue yet. Not part of the cache key (it does not change the weights)."""

    tasks: list[dict[str, Any]]
    every: int


def lr_at(step: int, h: PretrainHyper) -> float:
    """Linear warmup over `warmup` steps to `lr`, then cosine decay towards 0 at `steps`."""
    if step < h.warmup:
        return h.lr * (step + 1) / h.warmup
    progress = (step - h.warmup) / max(1, h.steps - h.warmup)
    return h.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _bad(message: str, **details: Any) -> TrainerFault:
    return TrainerFault(TRAINER_BAD_BATCH, message, details)


def read_corpus(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The demonstrations of a corpus file and the sha256 of its bytes."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _bad(f"corpus {path} is unreadable: {e}", corpus=str(path)) from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad(f"corpus {path} is not UTF-8: {e}", corpus=str(path)) from e
    demos = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            demo = json.loads(line)
        except ValueError as e:
            raise _bad(f"corpus {path} line {n} is not JSON: {e}", corpus=str(path), line=n) from e
        problem = _demo_problem(demo)
        if problem:
            raise _bad(f"corpus {path} line {n}: {problem}", corpus=str(path), line=n)
        demos.append({**demo, "line": n})
    if not demos:
        raise _bad(f"corpus {path} has no demonstrations", corpus=str(path))
    return demos, hashlib.sha256(raw).hexdigest()


def _demo_problem(demo: Any) -> str | None:
    if not isinstance(demo, dict) or not isinstance(demo.get("messages"), list) or not demo["messages"]:
        return "a demonstration must be an object with a non-empty `messages` list"
    for i, m in enumerate(demo["messages"]):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return f"messages[{i}].role must be one of {', '.join(ROLES)}"
        if not isinstance(m.get("content"), str):
            return f"messages[{i}].content must be a string"
        if not isinstance(m.get("format_error", False), bool):
            return f"messages[{i}].format_error must be a boolean"
    return None


def encode_demo(tok: Tokenizer, demo: dict[str, Any], max_seq_len: int) -> tuple[EncodedSample, bool]:
    """The demonstration as batch.encode_sample lays out an RFT trajectory (same template, same
    masks), cut to the context; returns (sample, whether it was cut)."""
    sample = {
        "episode_id": f"{demo.get('task_id', '?')}@line{demo['line']}",
        "turns": [{"role": m["role"], "text": m["content"], "format_error": m.get("format_error", False)} for m in demo["messages"]],
    }
    [enc] = encode_sample(tok, sample, sys.maxsize, mask_format_errors=True)  # text only: never split
    if len(enc.ids) <= max_seq_len:
        return enc, False
    return EncodedSample(enc.episode_id, enc.ids[:max_seq_len], enc.loss_mask[: max_seq_len - 1], enc.old_logprobs[: max_seq_len - 1]), True


def _record_of(path: Path) -> dict[str, Any] | None:
    # A native checkpoint keeps it in config.json; a Hugging Face one next to save_pretrained's files.
    try:
        meta = hf.SWERL_META_FILE if ckpt.is_hf(path) else ckpt.CONFIG_FILE
        record = json.loads((path / meta).read_text()).get(RECORD_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    return record if isinstance(record, dict) else None


def _check_existing(cid: str, path: Path, corpus_sha256: str, h: PretrainHyper) -> dict[str, Any] | None:
    """The record of an existing checkpoint made from these inputs; None if there is none;
    a conflict if something else is there."""
    if not ckpt.exists(path):
        return None
    rec = _record_of(path)
    if rec is None:
        why = "it was not made by pretrain (its config.json has no `pretrained` record)"
    else:
        want = asdict(h)
        diffs = [f"corpus sha256 {str(rec.get('corpus_sha256'))[:12]} vs {corpus_sha256[:12]}"] if rec.get("corpus_sha256") != corpus_sha256 else []
        got = {"arch": NATIVE, **(rec.get("hyper") or {})}
        diffs += [f"{k} {got.get(k)!r} vs {v!r}" for k, v in want.items() if got.get(k) != v]
        if not diffs:
            return rec
        why = "it was pre-trained from other inputs (recorded vs now: " + "; ".join(diffs) + ")"
    raise TrainerFault(
        TRAINER_STEP_CONFLICT,
        f"checkpoint {cid!r} at {path} already exists and {why}; use another --id or remove it",
        {"checkpoint": cid},
    )


@contextmanager
def _lock(root: Path, cid: str) -> Iterator[None]:
    # Two pre-trainings of one id run one after the other: the second finds the first's result.
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / ("pretrain--" + cid.replace("/", "--") + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _print(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


def pretrain(
    corpus: Path, root: Path, cid: str, h: PretrainHyper, emit: Emit = _print, log_every: int = 10, micro_batch_tokens: int = 16384, probe: Probe | None = None
) -> dict[str, Any]:
    """Pre-train (or recall) the checkpoint `cid` under `root`; returns its `pretrained` record
    plus `cached`, `checkpoint_id`, `path` and the per-step `losses` (empty when cached)."""
    demos, sha = read_corpus(corpus)
    cid, path = ckpt.resolve(root, cid)
    with _lock(root, cid):
        rec = _check_existing(cid, path, sha, h)
        if rec is not None:
            emit({"event": "pretrain_cached", "cached": True, "checkpoint_id": cid, "path": str(path), **rec})
            return {**rec, "cached": True, "checkpoint_id": cid, "path": str(path), "losses": []}
        ckpt.remove_stale_temps(path)
        model, tok, rec, losses = _train(demos, sha, h, emit, log_every, micro_batch_tokens, probe)
        if not ckpt.write_atomically(path, model, tok, None, {RECORD_KEY: rec}):
            raise TrainerFault(TRAINER_STEP_CONFLICT, f"checkpoint {cid!r} at {path} appeared while pre-training (written without the lock)", {"checkpoint": cid})
    emit({"event": "pretrain_done", "cached": False, "checkpoint_id": cid, "path": str(path), **rec})
    return {**rec, "cached": False, "checkpoint_id": cid, "path": str(path), "losses": losses}


def _new_policy(demos: list[dict[str, Any]], h: PretrainHyper) -> tuple[Any, Tokenizer, dict[str, Any]]:
    """The untrained model, its tokenizer trained on the corpus's message texts, and the record of that tokenizer."""
    texts = [m["content"] for d in demos for m in d["messages"]]
    if h.arch == NATIVE:
        tok = WordTokenizer.train(texts, h.min_count, h.max_vocab)
        torch.manual_seed(h.seed)
        model = CausalLM.initialized(preset_config(h.preset, tok.vocab_size, h.seed, max_seq_len=h.max_seq_len))
        return model, tok, {"type": tok.to_json()["type"], "pieces": len(tok.pieces), "vocab_size": tok.vocab_size}
    bpe = hf.train_tokenizer(texts, vocab_size=256 + len(hf.SPECIALS) + h.max_vocab, min_frequency=h.min_count)
    model = hf.new_model(bpe, h.arch, h.preset, h.seed, h.max_seq_len)
    tok = hf.HFTokenizer(bpe, model.cfg.vocab_size)
    return model, tok, {"type": "byte-level-bpe", "digits": "individual", "merges": len(bpe) - 256 - len(hf.SPECIALS), "vocab_size": len(bpe)}


def _train(
    demos: list[dict[str, Any]], sha: str, h: PretrainHyper, emit: Emit, log_every: int, micro_batch_tokens: int, probe: Probe | None = None
) -> tuple[Any, Tokenizer, dict[str, Any], list[float]]:
    model, tok, tok_record = _new_policy(demos, h)
    encoded, truncated = [], 0
    for d in demos:
        enc, cut = encode_demo(tok, d, h.max_seq_len)
        truncated += cut
        if enc.loss_tokens:
            encoded.append(enc)
    if not encoded:
        raise _bad(f"none of the {len(demos)} demonstrations has an assistant token to learn within {h.max_seq_len} tokens")
    model.train()
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": h.weight_decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=h.lr,
    )
    rng = random.Random(h.seed)
    order: list[int] = []
    losses: list[float] = []
    seen_tokens, window_start = 0, 0
    probes: list[dict[str, Any]] = []
    started = time.monotonic()
    for step in range(h.steps):
        picked = []
        while len(picked) < h.batch_size:  # epochs of seeded permutations: every demo once per epoch
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            picked.append(encoded[order.pop()])
        picked.sort(key=lambda e: e.length)  # less padding per micro-batch
        lr = lr_at(step, h)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        denominator = float(sum(e.loss_tokens for e in picked))
        loss_sum = 0.0
        for mb in micro_batches(picked, micro_batch_tokens):
            inputs, targets, mask = _tensors(mb.samples, tok.pad_id)
            loss = sft_loss(model(inputs)[0], targets, mask, denominator=denominator)
            loss.backward()
            loss_sum += float(loss.item())
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), h.grad_clip).item())
        if not (math.isfinite(loss_sum) and math.isfinite(grad_norm)):
            raise _bad(f"pre-training step {step} produced a non-finite loss ({loss_sum}) or grad norm ({grad_norm}); lower --lr")
        opt.step()
        losses.append(loss_sum)
        seen_tokens += sum(e.length for e in picked)
        done = step + 1
        if done == 1 or done % log_every == 0 or done == h.steps:
            elapsed = max(time.monotonic() - started, 1e-9)
            window = losses[window_start:]
            window_start = len(losses)
            emit({"event": "pretrain_progress", "step": done, "steps": h.steps, "loss": sum(window) / len(window),
                  "step_loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "tokens_per_s": seen_tokens / elapsed, "seconds": elapsed})
        if probe is not None and (done % probe.every == 0 or done == h.steps):
            counts = probe_policy(model, tok, probe.tasks, 1, 0.0, 48)["counts"]
            model.train()
            probes.append({"step": done, "greedy": counts})
            emit({"event": "pretrain_probe", "step": done, "tasks": len(probe.tasks), "greedy": counts})
    seconds = max(time.monotonic() - started, 1e-9)
    model.eval()
    lengths = [e.length + 1 for e in encoded]
    tail = losses[-FINAL_LOSS_WINDOW:]
    rec = {
        "corpus_sha256": sha,
        "hyper": hyper_record(h),
        **({} if h.arch == NATIVE else {"arch": h.arch}),
        "preset": h.preset,
        "steps": h.steps,
        "first_loss": losses[0],
        "final_loss": sum(tail) / len(tail),
        "seconds": seconds,
        "tokens_per_s": seen_tokens / seconds,
        "sequence_tokens": seen_tokens,
        "threads": torch.get_num_threads(),
        "demonstrations": len(demos),
        "trained_demonstrations": len(encoded),
        "truncated_demonstrations": truncated,
        "demo_tokens_mean": sum(lengths) / len(lengths),
        "demo_tokens_max": max(lengths),
        "tokenizer": tok_record,
        "parameters": sum(p.numel() for p in model.parameters()),
        **({"probes": probes} if probe is not None else {}),
    }
    return model, tok, rec, losses


def _tensors(samples: list[EncodedSample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs, targets and loss mask (padding only follows real tokens, so a causal
    model needs no attention mask)."""
    t = max(s.length for s in samples)
    inputs = torch.full((len(samples), t), pad_id, dtype=torch.long)
    targets = torch.full((len(samples), t), pad_id, dtype=torch.long)
    mask = torch.zeros(len(samples), t)
    for i, s in enumerate(samples):
        inputs[i, : s.length] = torch.tensor(s.ids[:-1])
        targets[i, : s.length] = torch.tensor(s.ids[1:])
        mask[i, : s.length] = torch.tensor(s.loss_mask, dtype=torch.float)
    return inputs, targets, mask


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(s: str) -> Any:
        v = kind(s)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v

    return parse


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="swerl_trainer.pretrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = PretrainHyper()
    p.add_argument("--corpus", required=True, help="demonstrations JSONL")
    p.add_argument("--checkpoints", required=True, help="checkpoints root (the worker's and the server's)")
    p.add_argument("--id", required=True, help="checkpoint id to write, e.g. learn-base")
    p.add_argument("--arch", default=d.arch, choices=[NATIVE, *hf.ARCHITECTURES], help="native: swerl's GPT and word tokenizer; qwen2 | llama: a transformers model (the HF venv)")
    p.add_argument("--preset", default=d.preset, help=f"model size: native {sorted(PRESETS)}, qwen2 | llama {sorted(hf.SIZES)}")
    p.add_argument("--steps", type=_positive(int), default=d.steps)
    p.add_argument("--batch-size", type=_positive(int), default=d.batch_size)
    p.add_argument("--lr", type=_positive(float), default=d.lr)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=_positive(int), default=2, help="torch CPU threads (not part of the cache key)")
    p.add_argument("--max-seq-len", type=_positive(int), default=None, help=f"model context; longer demonstrations are cut (default: the native preset's, {HF_MAX_SEQ_LEN} for qwen2 | llama)")
    p.add_argument("--min-count", type=_positive(int), default=d.min_count, help="a piece enters the vocabulary if it occurs this often")
    p.add_argument("--max-vocab", type=_positive(int), default=d.max_vocab, help="at most this many learned pieces")
    p.add_argument("--log-every", type=_positive(int), default=10)
    p.add_argument("--probe-prompts", help="first prompts of a split (tasks/learn/generate.ts --prompts validation FILE): greedy first actions every --probe-every steps")
    p.add_argument("--probe-every", type=_positive(int), default=250)
    p.add_argument("--micro-batch-tokens", type=_positive(int), default=16384, help="padded tokens per forward (memory, not results)")
    a = p.parse_args(argv)
    sizes = PRESETS if a.arch == NATIVE else hf.SIZES
    if a.preset not in sizes:
        p.error(f"--preset {a.preset!r} is not a size of --arch {a.arch} (expected one of {', '.join(sorted(sizes))})")
    torch.set_num_threads(a.threads)
    default_len = int(PRESETS[a.preset]["max_seq_len"]) if a.arch == NATIVE else HF_MAX_SEQ_LEN
    h = PretrainHyper(
        arch=a.arch,
        preset=a.preset, steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup=max(0, a.warmup), weight_decay=a.weight_decay,
        seed=a.seed, max_seq_len=a.max_seq_len or default_len, min_count=a.min_count,
        max_vocab=a.max_vocab,
    )
    try:
        probe = Probe(read_prompts(Path(a.probe_prompts)), a.probe_every) if a.probe_prompts else None
        pretrain(Path(a.corpus), Path(a.checkpoints).resolve(), a.id, h, log_every=a.log_every, micro_batch_tokens=a.micro_batch_tokens, probe=probe)
    except TrainerFault as e:
        _print({"event": "pretrain_failed", "code": e.code, "message": str(e), "details": e.details})
        print(str(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
