"""Tokenizers and the chat template of the reference policy.

Made here so that tests and the toy pipeline never download a vocabulary. Two types share ids
0-255 (the UTF-8 bytes of the text), the special tokens after them, and the chat template:
- `swerl-byte-v1` (ByteTokenizer): bytes only.
- `swerl-words-v1` (WordTokenizer): bytes, specials, then a vocabulary of whole pieces (words,
  runs of spaces, non-ASCII characters) learned from a corpus. A toy transcript is then ~2x
  shorter than in bytes and an identifier is one token, which a CPU-sized model can learn to copy;
  any piece outside the vocabulary still encodes, as its bytes.
Plain text is always encoded as bytes or pieces, so a message that contains the literal string
"<|end|>" cannot forge a turn boundary; special tokens only come from the chat template.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import TrainerFault, CHECKPOINT_INVALID

TOKENIZER_TYPE = "swerl-byte-v1"
WORDS_TOKENIZER_TYPE = "swerl-words-v1"
SPECIAL_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "<|end|>", "<|pad|>")
ROLES = ("system", "user", "assistant", "tool")
# Every character falls in exactly one piece, so the pieces of a text concatenate back to it.
# Digits are single pieces (numbers compose from ten tokens); a run of spaces (indentation) is one.
PIECE_PATTERN = r"[A-Za-z_]+|\d|[ ]+|\s|[^\sA-Za-z_\d]"
_PIECE = re.compile(PIECE_PATTERN)


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


def split_pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


class Tokenizer:
    """What the trainer and the server rely on: 256 byte ids, the special tokens in SPECIAL_TOKENS
    order from id 256, `n_extra` ids after them, vocab padded to a multiple of 8, one chat template."""

    CHAT_TEMPLATE = "for each message: <|role|> utf8(content) <|end|> (role tool rendered as user); prompt ends with <|assistant|>"

    def __init__(self, n_extra: int = 0) -> None:
        self.special = {name: 256 + i for i, name in enumerate(SPECIAL_TOKENS)}
        self.special_by_id = {i: name for name, i in self.special.items()}
        raw = 256 + len(SPECIAL_TOKENS) + n_extra
        self.vocab_size = (raw + 7) // 8 * 8
        self.end_id = self.special["<|end|>"]
        self.pad_id = self.special["<|pad|>"]
        self.assistant_id = self.special["<|assistant|>"]
        # An assistant turn is assistant_prefix + sampled ids (ending in end_id) + after_end; a
        # Hugging Face template has a multi-token prefix and text after its eos (hf.HFTokenizer).
        self.assistant_prefix: list[int] = [self.assistant_id]
        self.after_end: list[int] = []

    # --- plain text (per type) --------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the ids; special tokens are dropped (they are structure, not content). Bytes are
        joined before decoding, so a character sampled as several byte tokens comes out whole."""
        return b"".join(self.token_bytes(i) for i in ids if i not in self.special_by_id).decode("utf-8", errors="replace")

    def token_str(self, token_id: int) -> str:
        """A printable name for one token: the character if the byte is ASCII, else `bytes:\\xNN`."""
        if token_id in self.special_by_id:
            return self.special_by_id[token_id]
        if token_id < 128:
            return chr(token_id)
        if token_id < 256:
            return f"bytes:\\x{token_id:02x}"
        return f"<|unused_{token_id}|>"

    def to_json(self) -> dict:
        raise NotImplementedError

    # --- chat template ----------------------------------------------------------------------
    def role_header(self, role: str) -> int:
        """Observations (stored with role `tool`) are rendered as user messages, as SWE-agent does
        and as the rollout side sends them (core/transcript.ts messagesBefore): the trainer must lay
        a trajectory out exactly as the sampler saw it, or the importance ratios are wrong."""
        if role not in ROLES:
            raise ValueError(f"unknown chat role {role!r} (expected one of {', '.join(ROLES)})")
        return self.special["<|user|>" if role == "tool" else f"<|{role}|>"]

    def encode_message(self, role: str, content: str) -> list[int]:
        """`<|role|>` + encoded content + `<|end|>`: the one template for prompts and training."""
        return [self.role_header(role), *self.encode(content), self.end_id]

    def encode_prompt(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The conversation so far plus the `<|assistant|>` header the policy continues from."""
        ids: list[int] = []
        for m in messages:
            ids.extend(self.encode_message(m.role, m.content))
        ids.append(self.assistant_id)
        return ids

    # --- persistence ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")


class ByteTokenizer(Tokenizer):
    """256 byte ids, then the special tokens in SPECIAL_TOKENS order; vocab padded to a multiple of 8."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Iterable[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        if token_id < 256:
            return bytes([token_id])
        return self.special_by_id.get(token_id, "").encode("utf-8")

    def to_json(self) -> dict:
        return {
            "type": TOKENIZER_TYPE,
            "vocab_size": self.vocab_size,
            "byte_tokens": 256,
            "special_tokens": self.special,
            "chat_template": self.CHAT_TEMPLATE,
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "ByteTokenizer":
        tok = cls()
        if data.get("type") != TOKENIZER_TYPE or data.get("special_tokens") != tok.special:
            raise TrainerFault(
                CHECKPOINT_INVALID,
                f"tokenizer file {path} is of type {data.get('type')!r}, expected {TOKENIZER_TYPE!r} "
                "with the same special tokens",
            )
        return tok

    @classmethod
    def load(cls, path: Path) -> "ByteTokenizer":
        return cls.from_json(_read(path), path)


class WordTokenizer(Tokenizer):
    """Bytes, the special tokens, then `pieces` (ids 262, 263, ... in the given order).

    encode: each piece of the text (PIECE_PATTERN) that is in the vocabulary is its id, any other
    piece its UTF-8 bytes. A piece sampled as bytes decodes to the same text (the server and
    batch.encode_sample treat that as a non-canonical turn, like an invalid UTF-8 byte).
    """

    CHAT_TEMPLATE = (
        "for each message: <|role|> pieces(content) <|end|> (role tool rendered as user); prompt ends with <|assistant|>; "
        "a piece in the vocabulary is its id, any other piece its utf8 bytes"
    )

    def __init__(self, pieces: Sequence[str]) -> None:
        super().__init__(len(pieces))
        bad = [p for p in pieces if len(p.encode("utf-8")) < 2 or split_pieces(p) != [p]]
        if bad:
            raise ValueError(f"vocabulary entries {bad[:5]!r} are not single pieces of two or more bytes")
        if len(set(pieces)) != len(pieces):
            raise ValueError("vocabulary has duplicate pieces")
        self.pieces = tuple(pieces)
        self.first_piece_id = 256 + len(SPECIAL_TOKENS)
        self.piece_ids = {p: self.first_piece_id + i for i, p in enumerate(self.pieces)}

    @classmethod
    def train(cls, texts: Iterable[str], min_count: int = 2, max_size: int = 4096) -> "WordTokenizer":
        """The pieces of `texts` that occur at least `min_count` times, the `max_size` most frequent
        (ties by piece), in sorted order: the same texts always give the same ids."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(p for p in split_pieces(text) if len(p.encode("utf-8")) > 1)
        frequent = sorted((p for p, c in counts.items() if c >= min_count), key=lambda p: (-counts[p], p))
        return cls(sorted(frequent[:max_size]))

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in split_pieces(text):
            pid = self.piece_ids.get(piece)
            if pid is None:
                ids.extend(piece.encode("utf-8"))
            else:
                ids.append(pid)
        return ids

    def _piece(self, token_id: int) -> str | None:
        k = token_id - self.first_piece_id
        return self.pieces[k] if 0 <= k < len(self.pieces) else None

    def token_bytes(self, token_id: int) -> bytes:
        if 0 <= token_id < 256:
            return bytes([token_id])
        piece = self._piece(token_id)
        if piece is not None:
            return piece.encode("utf-8")
        return self.special_by_id.get(token_id, "").encode("utf-8")

    def token_str(self, token_id: int) -> str:
        piece = self._piece(token_id)
        return piece if piece is not None else super().token_str(token_id)

    def to_json(self) -> dict:
        return {
            "type": WORDS_TOKENIZER_TYPE,
            "vocab_size": self.vocab_size,
            "byte_tokens": 256,
            "special_tokens": self.special,
            "pre_tokenizer": PIECE_PATTERN,
            "first_piece_id": self.first_piece_id,
            "pieces": list(self.pieces),
            "chat_template": self.CHAT_TEMPLATE,
        }

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "WordTokenizer":
        pieces = data.get("pieces")
        if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
            raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer file {path} ({WORDS_TOKENIZER_TYPE}) has no list of string pieces")
        try:
            tok = cls(pieces)
        except ValueError as e:
            raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer file {path}: {e}") from e
        # Another pre-tokenizer or id layout would silently give other ids for the same text.
        expected = tok.to_json()
        wrong = [k for k in ("type", "special_tokens", "pre_tokenizer", "first_piece_id", "vocab_size") if data.get(k) != expected[k]]
        if wrong:
            raise TrainerFault(
                CHECKPOINT_INVALID,
                f"tokenizer file {path} differs from {WORDS_TOKENIZER_TYPE} in {', '.join(wrong)} "
                f"(file: {[data.get(k) for k in wrong]!r})",
            )
        return tok

    @classmethod
    def load(cls, path: Path) -> "WordTokenizer":
        return cls.from_json(_read(path), path)


_TYPES: dict[str, type[ByteTokenizer] | type[WordTokenizer]] = {TOKENIZER_TYPE: ByteTokenizer, WORDS_TOKENIZER_TYPE: WordTokenizer}


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer file {path} is unreadable: {e}") from e
    if not isinstance(data, dict):
        raise TrainerFault(CHECKPOINT_INVALID, f"tokenizer file {path} is not a JSON object")
    return data


def load_tokenizer(path: Path) -> Tokenizer:
    """The tokenizer saved at `path`, of whichever type its `type` names."""
    data = _read(path)
    kind = data.get("type")
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise TrainerFault(
            CHECKPOINT_INVALID,
            f"tokenizer file {path} is of unknown type {kind!r} (expected one of {', '.join(_TYPES)})",
        )
    return cls.from_json(data, path)
