"""From trajectories (the contract's samples) to token sequences, loss masks and micro-batches.

A trajectory is laid out with the same chat template the policy server prompts with, so the
tokens the trainer scores are the tokens the sampler produced. When a turn carries the sampler's
`token_ids` they are used verbatim (re-tokenizing text could differ from what was sampled); its
`logprobs` become the behaviour policy's log-probabilities for the importance ratio.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .errors import DECODING_MISMATCH, TRAINER_BAD_BATCH, TrainerFault
from .tokenizer import Tokenizer

DECODING_KEYS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")
_CAMEL = {"topP": "top_p", "topK": "top_k", "minP": "min_p", "repetitionPenalty": "repetition_penalty"}
_DISABLED = {"top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}


@dataclass
class EncodedSample:
    episode_id: str
    ids: list[int]  # the whole trajectory; the model reads ids[:-1] and predicts ids[1:]
    loss_mask: list[int]  # aligned with ids[1:]
    old_logprobs: list[float]  # aligned with ids[1:]; NaN where the sampler gave none
    advantage: float = 0.0

    @property
    def length(self) -> int:
        return len(self.ids) - 1

    @property
    def loss_tokens(self) -> int:
        return sum(self.loss_mask)


@dataclass
class MicroBatch:
    samples: list[EncodedSample] = field(default_factory=list)

    def padded_tokens(self, extra: EncodedSample | None = None) -> int:
        items = self.samples + ([extra] if extra else [])
        return max((s.length for s in items), default=0) * len(items)


def normalize_decoding(d: dict[str, Any] | None) -> dict[str, float] | None:
    """Decoding params in one spelling (snake_case, accepting the TS camelCase), disabled values unified.

    A record that spells one parameter twice with different values is ambiguous: ValueError.
    """
    if d is None:
        return None
    seen: dict[str, set[float]] = {}
    for k, v in d.items():
        key = _CAMEL.get(k, k)
        if key in DECODING_KEYS and v is not None:
            seen.setdefault(key, set()).add(float(v))
    ambiguous = [k for k, vs in seen.items() if len(vs) > 1]
    if ambiguous:
        raise ValueError(f"decoding record spells {', '.join(ambiguous)} twice with different values: {d}")
    out = {k: vs.pop() for k, vs in seen.items()}
    for key, off in _DISABLED.items():
        out.setdefault(key, float(off))
    if out["top_k"] <= 0:  # vLLM spells "no top-k" as -1 or 0
        out["top_k"] = -1.0
    out.setdefault("temperature", 1.0)
    return out


def check_decoding(sample_id: str, recorded: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    """Refuse to train on a trajectory sampled with other decoding params (PAPER.md lesson)."""
    try:
        exp = normalize_decoding(expected)
        got = normalize_decoding(recorded)
    except ValueError as e:
        raise TrainerFault(DECODING_MISMATCH, f"episode {sample_id}: {e}", {"episode_id": sample_id}) from e
    if got is None:
        raise TrainerFault(
            DECODING_MISMATCH,
            f"episode {sample_id} has no recorded decoding parameters; refusing to train on it",
            {"episode_id": sample_id, "expected": exp},
        )
    diff = {k: {"recorded": got[k], "expected": exp[k]} for k in DECODING_KEYS if not math.isclose(got[k], exp[k], rel_tol=1e-9, abs_tol=1e-9)}
    if diff:
        raise TrainerFault(
            DECODING_MISMATCH,
            f"episode {sample_id} was sampled with decoding {got} but the trainer expects {exp} "
            f"(differs in {', '.join(diff)}); importance ratios would be wrong",
            {"episode_id": sample_id, "differences": diff},
        )


def encode_sample(
    tok: Tokenizer,
    sample: dict[str, Any],
    max_seq_len: int,
    mask_format_errors: bool,
) -> list[EncodedSample]:
    """One trajectory as one training sequence, or several when the sampler's prompts drifted.

    Turn k is scored on the exact tokens it was sampled from: its prompt is the earlier turns as
    the sampler rendered them, i.e. earlier assistant turns re-encoded from their *text*. When a
    turn's sampled ids differ from its re-encoded text (invalid UTF-8, a trimmed stop string),
    later turns saw the text, so the sequence is cut after that turn and the next segment starts
    from the re-encoded prefix (its tokens carry no loss). Every action token is scored once.
    """
    sid = str(sample.get("episode_id", "?"))
    adv = float(sample.get("advantage", 0.0))
    segments: list[EncodedSample] = []
    ids: list[int] = []
    in_loss: list[int] = []
    old: list[float] = []
    as_prompted: list[int] = []  # the trajectory as later prompts rendered it
    for n, turn in enumerate(sample["turns"]):
        role = turn["role"]
        if role != "assistant":
            part = tok.encode_message(role, turn["text"])
            ids += part
            in_loss += [0] * len(part)
            old += [math.nan] * len(part)
            as_prompted += part
            continue
        trained = 0 if (mask_format_errors and turn.get("format_error")) else 1
        sampled = turn.get("token_ids")
        if sampled is None:
            content = tok.encode(turn["text"]) + [tok.end_id]
            lps: Sequence[float | None] = [math.nan] * len(content)
        else:
            content = list(sampled)
            bad = [t for t in content if not (0 <= t < tok.vocab_size)]
            if bad:
                raise TrainerFault(TRAINER_BAD_BATCH, f"episode {sid} turn {n}: token ids {bad[:5]} are outside the vocabulary of {tok.vocab_size}", {"episode_id": sid, "turn": n})
            lps = turn.get("logprobs") or [math.nan] * len(content)
            if len(lps) != len(content):
                raise TrainerFault(TRAINER_BAD_BATCH, f"episode {sid} turn {n}: {len(lps)} logprobs for {len(content)} token ids", {"episode_id": sid, "turn": n})
        head = tok.assistant_prefix
        turn_ids = [*head, *content]
        turn_loss = [0] * len(head) + [trained] * len(content)
        turn_old = [math.nan] * len(head) + [float(x) if x is not None else math.nan for x in lps]
        # Cut at max_tokens: the template closes the turn, but that <|end|> was never sampled; what
        # a template renders after the end token (ChatML's newline) is never sampled either.
        tail = ([] if content and content[-1] == tok.end_id else [tok.end_id]) + tok.after_end
        turn_ids += tail
        turn_loss += [0] * len(tail)
        turn_old += [math.nan] * len(tail)
        ids += turn_ids
        in_loss += turn_loss
        old += turn_old
        rendered = tok.encode_message("assistant", turn["text"])
        as_prompted += rendered
        if rendered != turn_ids and n < len(sample["turns"]) - 1:
            segments.append(_segment(sid, ids, in_loss, old, adv, max_seq_len))
            ids, in_loss, old = list(as_prompted), [0] * len(as_prompted), [math.nan] * len(as_prompted)
    segments.append(_segment(sid, ids, in_loss, old, adv, max_seq_len))
    kept = [seg for seg in segments if seg.loss_tokens]
    return kept or segments[:1]


def _segment(sid: str, ids: list[int], in_loss: list[int], old: list[float], adv: float, max_seq_len: int) -> EncodedSample:
    # Position i of ids is predicted from ids[:i]: shift masks and logprobs onto targets.
    seg = EncodedSample(sid, list(ids), in_loss[1:], old[1:], adv)
    if len(ids) > max_seq_len:
        # Only the tail after the last action (a final observation) may be dropped: it carries no loss.
        last = max((i for i, m in enumerate(seg.loss_mask) if m), default=-1)
        if last + 2 > max_seq_len:
            raise TrainerFault(TRAINER_BAD_BATCH, f"episode {sid} has {len(ids)} tokens of which the actions reach token {last + 2}, beyond the model context of {max_seq_len}", {"episode_id": sid})
        seg = EncodedSample(sid, ids[:max_seq_len], seg.loss_mask[: max_seq_len - 1], seg.old_logprobs[: max_seq_len - 1], adv)
    return seg


def micro_batches(samples: Iterable[EncodedSample], token_budget: int) -> list[MicroBatch]:
    """Greedy, order-preserving packing: each micro-batch's padded size stays within the budget
    (a single sequence longer than the budget gets a micro-batch of its own)."""
    out: list[MicroBatch] = []
    cur = MicroBatch()
    for s in samples:
        if cur.samples and cur.padded_tokens(s) > token_budget:
            out.append(cur)
            cur = MicroBatch()
        cur.samples.append(s)
    if cur.samples:
        out.append(cur)
    return out
