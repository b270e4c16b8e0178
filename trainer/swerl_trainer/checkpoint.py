"""Checkpoints as directories: model.safetensors + config.json + tokenizer.json (+ optimizer state).

Two formats, told apart by config.json: swerl's native CPU model (`{"model": {"architecture":
"swerl-causal-lm-v1", ...}}`) and a Hugging Face causal LM (`model_type`, written by
`save_pretrained`; see hf.py). A step writes its checkpoint in the format of its base.

A checkpoint is written complete into a temp directory next to its final place and then renamed
into place, so a reader never sees half a checkpoint and a crashed writer leaves only a temp dir.
Ids are paths relative to the checkpoints root (e.g. `run-1/rl-1/i0003-s0001`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import CHECKPOINT_INVALID, CHECKPOINT_NOT_FOUND, TrainerFault
from .model import CausalLM, ModelConfig, preset_config
from .tokenizer import ByteTokenizer, Tokenizer, load_tokenizer

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STEP_FILE = "swerl_step.json"
_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Checkpoint:
    id: str
    path: Path
    model: Any  # CausalLM, or hf.HFCausalLM: the same forward/cfg interface
    tokenizer: Tokenizer
    optimizer_state: dict[str, torch.Tensor] | None


def resolve(root: Path, ref: str) -> tuple[str, Path]:
    """(id, path) of a checkpoint named by id under `root` or by absolute path."""
    p = Path(ref)
    if p.is_absolute():
        try:
            return str(p.resolve().relative_to(root.resolve())), p
        except ValueError:
            return str(p), p
    parts = ref.split("/")
    if not all(_ID_PART.match(x) for x in parts):
        raise TrainerFault(CHECKPOINT_NOT_FOUND, f"checkpoint id {ref!r} is not a valid id", {"checkpoint": ref})
    return ref, root / ref


def exists(path: Path) -> bool:
    # A large Hugging Face model is sharded: model.safetensors.index.json names the shards.
    return (path / CONFIG_FILE).is_file() and ((path / MODEL_FILE).is_file() or (path / (MODEL_FILE + ".index.json")).is_file())


def is_hf(path: Path) -> bool:
    try:
        return "model_type" in json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False


def load(root: Path, ref: str) -> Checkpoint:
    cid, path = resolve(root, ref)
    if not exists(path):
        raise TrainerFault(CHECKPOINT_NOT_FOUND, f"checkpoint {ref!r} not found at {path}", {"checkpoint": ref})
    hf_format = is_hf(path)
    try:
        if hf_format:
            from . import hf

            model, tokenizer = hf.load(path)
        else:
            cfg = ModelConfig.from_json(json.loads((path / CONFIG_FILE).read_text())["model"])
            tokenizer = load_tokenizer(path / TOKENIZER_FILE)
            model = CausalLM(cfg)
            model.load_state_dict(load_file(str(path / MODEL_FILE)))
        opt_path = path / OPTIMIZER_FILE
        opt = load_file(str(opt_path)) if opt_path.is_file() else None
    except TrainerFault as e:
        if hf_format and e.code == CHECKPOINT_INVALID:
            raise TrainerFault(CHECKPOINT_INVALID, f"checkpoint {ref!r} at {path}: {e}", {"checkpoint": ref}) from e
        raise
    except Exception as e:  # a torn or foreign checkpoint: never retry into it
        raise TrainerFault(CHECKPOINT_INVALID, f"checkpoint {ref!r} at {path} cannot be loaded: {e}", {"checkpoint": ref}) from e
    if not hf_format and tokenizer.vocab_size != model.cfg.vocab_size:
        raise TrainerFault(CHECKPOINT_INVALID, f"checkpoint {ref!r}: tokenizer and model vocab sizes differ", {"checkpoint": ref})
    return Checkpoint(cid, path, model, tokenizer, opt)


def write_atomically(
    final: Path,
    model: Any,
    tokenizer: Tokenizer,
    optimizer_state: dict[str, torch.Tensor] | None = None,
    meta: dict | None = None,
    step_record: dict | None = None,
) -> bool:
    """Write a checkpoint to `final`. Returns False if another writer got there first (kept as is)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if isinstance(model, CausalLM):
            state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / MODEL_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps({"model": model.cfg.to_json(), **(meta or {})}, indent=2) + "\n")
            tokenizer.save(tmp / TOKENIZER_FILE)
        else:  # Hugging Face: save_pretrained, so transformers / vLLM / SGLang load it unchanged
            from . import hf

            hf.save(tmp, model, tokenizer)  # type: ignore[arg-type]
            (tmp / hf.SWERL_META_FILE).write_text(json.dumps(meta or {}, indent=2, sort_keys=True) + "\n")
        if optimizer_state:
            save_file(optimizer_state, str(tmp / OPTIMIZER_FILE))
        if step_record is not None:
            (tmp / STEP_FILE).write_text(json.dumps(step_record, indent=2, sort_keys=True) + "\n")
        _fsync_dir_files(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if exists(final):
                return False
            raise
        _fsync(final.parent)
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temps(final: Path) -> None:
    """Temp dirs of an attempt that died before its rename; safe because the caller holds the step lock."""
    if final.parent.is_dir():
        for p in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(p, ignore_errors=True)


def create_base(root: Path, cid: str, preset: str = "tiny", seed: int = 0, **overrides: int) -> Path:
    """A freshly initialized (seeded) base policy under `root/cid`; a no-op if it already exists."""
    _, path = resolve(root, cid)
    if not exists(path):
        tok = ByteTokenizer()
        model = CausalLM.initialized(preset_config(preset, tok.vocab_size, seed, **overrides))
        write_atomically(path, model, tok, meta={"created_from": {"preset": preset, "seed": seed}})
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir_files(d: Path) -> None:
    for f in d.iterdir():
        _fsync(f)
    _fsync(d)
