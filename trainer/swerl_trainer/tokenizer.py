"""Byte-level tokenizer and chat template of the reference policy.

Made here so that tests and the toy pipeline never download a vocabulary: ids 0-255 are the UTF-8
bytes of the text, special tokens follow. Plain text is always encoded as bytes, so a message that
contains the literal string "<|end|>" cannot forge a turn boundary; special tokens only come from
the chat template.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import TrainerFault, CHECKPOINT_INVALID

TOKENIZER_TYPE = "swerl-byte-v1"
SPECIAL_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>", "<|pad|>")
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


class ByteTokenizer:
    """256 byte ids, then the special tokens in SPECIAL_TOKENS order; vocab padded to a multiple of 8."""

    def __init__(self) -> None:
        self.special = {name: 256 + i for i, name in enumerate(SPECIAL_TOKENS)}
        self.special_by_id = {i: name for name, i in self.special.items()}
        raw = 256 + len(SPECIAL_TOKENS)
        self.vocab_size = (raw + 7) // 8 * 8
        self.end_id = self.special["<|end|>"]
        self.pad_id = self.special["<|pad|>"]
        self.assistant_id = self.special["<|assistant|>"]

    # --- plain text -------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the byte ids; special tokens are dropped (they are structure, not content)."""
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        if token_id < 256:
            return bytes([token_id])
        return self.special_by_id.get(token_id, "").encode("utf-8")

    def token_str(self, token_id: int) -> str:
        """A printable name for one token: the character if the byte is ASCII, else `bytes:\\xNN`."""
        if token_id in self.special_by_id:
            return self.special_by_id[token_id]
        if token_id < 128:
            return chr(token_id)
        if token_id < 256:
            return f"bytes:\\x{token_id:02x}"
        return f"<|unused_{token_id}|>"

    # --- chat template ----------------------------------------------------------------------
    def role_header(self, role: str) -> int:
        """Observations (stored with role `tool`) are rendered as user messages, as SWE-agent does
        and as the rollout side sends them (core/transcript.ts messagesBefore): the trainer must lay
        a trajectory out exactly as the sampler saw it, or the importance ratios are wrong."""
        if role not in ROLES:
            raise ValueError(f"unknown chat role {role!r} (expected one of {', '.join(ROLES)})")
        return self.special["<|user|>" if role == "tool" else f"<|{role}|>"]

    def encode_message(self, role: str, content: str) -> list[int]:
        """`<|role|>` + content bytes + `<|end|>`: the one template for prompts and training."""
        return [self.role_header(role), *self.encode(content), self.end_id]

    def encode_prompt(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The conversation so far plus the `<|assistant|>` header the policy continues from."""
        ids: list[int] = []
        for m in messages:
            ids.extend(self.encode_message(m.role, m.content))
        ids.append(self.assistant_id)
        return ids

    # --- persistence ------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "type": TOKENIZER_TYPE,
            "vocab_size": self.vocab_size,
            "byte_tokens": 256,
            "special_tokens": self.special,
            "chat_template": "for each message: <|role|> utf8(content) <|end|> (role tool rendered as user); prompt ends with <|assistant|>",
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "ByteTokenizer":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer file {path} is unreadable: {e}") from e
        tok = cls()
        if data.get("type") != TOKENIZER_TYPE or data.get("special_tokens") != tok.special:
            raise TrainerFault(
                CHECKPOINT_INVALID,
                f"tokenizer file {path} is of type {data.get('type')!r}, expected {TOKENIZER_TYPE!r} "
                "with the same special tokens",
            )
        return tok
