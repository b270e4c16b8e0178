"""The word-level tokenizer (swerl-words-v1) against hand-computed ids, its persistence next to the
byte tokenizer's, and trajectory encoding when the sampler spelled a word as bytes."""
import json
import math

import pytest
import torch

from swerl_trainer import checkpoint as ckpt
from swerl_trainer.batch import encode_sample
from swerl_trainer.errors import CHECKPOINT_INVALID, TrainerFault
from swerl_trainer.model import CausalLM, preset_config
from swerl_trainer.tokenizer import ByteTokenizer, ChatMessage, WordTokenizer, load_tokenizer, split_pieces

# <|system|> 256, <|user|> 257, <|assistant|> 258, <|tool|> 259, <|end|> 260, <|pad|> 261
USER, ASSISTANT, END = 257, 258, 260
TRICKY = "\tif x1:\r\n    return 'héllo ✓' <|end|> 42\x00\n"


def test_pieces_cover_every_character_once():
    assert split_pieces("def  f(x12):\r\n\tif é✓") == [
        "def", "  ", "f", "(", "x", "1", "2", ")", ":", "\r", "\n", "\t", "if", " ", "é", "✓"
    ]
    assert "".join(split_pieces(TRICKY)) == TRICKY


def test_known_ids_for_a_hand_made_vocabulary():
    tok = WordTokenizer(["def", "return", "  "])  # ids 262, 263, 264 in the given order
    assert tok.vocab_size == 272  # 256 + 6 + 3 = 265, padded to a multiple of 8
    assert tok.end_id == END and tok.assistant_id == ASSISTANT and tok.pad_id == 261
    assert tok.encode("def f(x):\n  return x") == [262, 32, ord("f"), 40, ord("x"), 41, 58, 10, 264, 263, 32, ord("x")]
    # A piece outside the vocabulary is its UTF-8 bytes; "   " (3 spaces) is not "  " (2 spaces).
    assert tok.encode("defs é   ") == [ord("d"), ord("e"), ord("f"), ord("s"), 32, 0xC3, 0xA9, 32, 32, 32]
    assert tok.encode_prompt([ChatMessage("user", "def x")]) == [USER, 262, 32, ord("x"), END, ASSISTANT]
    assert tok.decode([262, END, 32, 0xC3, 0xA9, 271]) == "def é"  # specials and unused ids carry no text
    assert [tok.token_str(i) for i in (262, 264, 10, 0xC3, END, 271)] == ["def", "  ", "\n", "bytes:\\xc3", "<|end|>", "<|unused_271|>"]
    assert [tok.token_bytes(i) for i in (263, 65, END)] == [b"return", b"A", b"<|end|>"]


def test_train_keeps_frequent_multibyte_pieces_sorted_and_capped_by_frequency():
    texts = ["def foo def bar", "foo  x é é"]
    # def 2, foo 2, é 2 (two bytes); bar 1 and "  " 1 are rare; x and " " are single bytes.
    assert WordTokenizer.train(texts, min_count=2).pieces == ("def", "foo", "é")
    assert WordTokenizer.train(texts, min_count=1).pieces == ("  ", "bar", "def", "foo", "é")
    assert WordTokenizer.train(texts, min_count=2, max_size=2).pieces == ("def", "foo")  # ties by piece
    assert WordTokenizer.train(["cc aa aa bb bb aa cc dd"], max_size=2).pieces == ("aa", "bb")  # aa 3; bb, cc 2


def test_round_trip_on_tricky_text_and_no_forged_specials():
    tok = WordTokenizer.train([TRICKY, TRICKY])
    assert "end" in tok.pieces and "    " in tok.pieces and "é" in tok.pieces
    ids = tok.encode(TRICKY)
    assert tok.decode(ids) == TRICKY
    assert not set(ids) & set(tok.special_by_id)  # the literal "<|end|>" stays plain text
    assert ids[split_pieces(TRICKY).index("<"):][:5] == [ord("<"), ord("|"), tok.piece_ids["end"], ord("|"), ord(">")]
    assert len(ids) < len(TRICKY.encode())
    # A sampler may emit any id sequence: bytes of a split character decode whole.
    assert tok.decode(list("é".encode()) + [tok.piece_ids["return"]]) == "éreturn"


def test_save_load_and_dispatch_on_type(tmp_path):
    tok = WordTokenizer.train([TRICKY, TRICKY])
    tok.save(tmp_path / "w.json")
    loaded = load_tokenizer(tmp_path / "w.json")
    assert isinstance(loaded, WordTokenizer) and loaded.to_json() == tok.to_json()
    assert loaded.encode(TRICKY) == tok.encode(TRICKY)
    assert json.loads((tmp_path / "w.json").read_text())["type"] == "swerl-words-v1"

    ByteTokenizer().save(tmp_path / "b.json")
    # The byte tokenizer's file is unchanged by the second type.
    assert json.loads((tmp_path / "b.json").read_text()) == {
        "type": "swerl-byte-v1", "vocab_size": 264, "byte_tokens": 256,
        "special_tokens": {"<|system|>": 256, "<|user|>": 257, "<|assistant|>": 258, "<|tool|>": 259, "<|end|>": 260, "<|pad|>": 261},
        "chat_template": "for each message: <|role|> utf8(content) <|end|> (role tool rendered as user); prompt ends with <|assistant|>",
    }
    b = load_tokenizer(tmp_path / "b.json")
    assert type(b) is ByteTokenizer and b.encode("héllo") == list("héllo".encode())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(type="swerl-bpe-v9"), "unknown type 'swerl-bpe-v9'"),
        (lambda d: d.update(pieces=["a b"]), "not single pieces"),
        (lambda d: d.update(pieces=["ab", "ab"]), "duplicate"),
        (lambda d: d.update(pre_tokenizer=r"\w+|\W"), "differs from swerl-words-v1 in pre_tokenizer"),
        (lambda d: d.update(vocab_size=999), "in vocab_size"),
    ],
)
def test_foreign_or_tampered_files_are_refused_with_the_code(tmp_path, edit, message):
    data = WordTokenizer(["ab", "cd"]).to_json()
    edit(data)
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(TrainerFault) as e:
        load_tokenizer(tmp_path / "t.json")
    assert e.value.code == CHECKPOINT_INVALID and message in str(e.value) and "t.json" in str(e.value)


def test_checkpoint_with_a_word_tokenizer_round_trips(tmp_path):
    tok = WordTokenizer.train([TRICKY, TRICKY])
    model = CausalLM.initialized(preset_config("test", tok.vocab_size, seed=1))
    assert ckpt.write_atomically(tmp_path / "w", model, tok)
    c = ckpt.load(tmp_path, "w")
    assert isinstance(c.tokenizer, WordTokenizer) and c.tokenizer.pieces == tok.pieces
    assert torch.equal(c.model.tok_emb.weight, model.tok_emb.weight)
    # A tokenizer that does not fit the model's embedding is refused.
    WordTokenizer(["ab"] + [f"w{'x' * i}" for i in range(1, 21)]).save(tmp_path / "w" / ckpt.TOKENIZER_FILE)
    with pytest.raises(TrainerFault) as e:
        ckpt.load(tmp_path, "w")
    assert e.value.code == CHECKPOINT_INVALID and "vocab sizes differ" in str(e.value)


def test_word_sampled_as_bytes_splits_the_trajectory_like_any_non_canonical_turn():
    tok = WordTokenizer(["ls", "cat"])  # ls 262, cat 263
    lp = [-1.0, -2.0, -3.0]
    canonical = {"episode_id": "e", "turns": [
        {"role": "user", "text": "q"},
        {"role": "assistant", "text": "ls", "token_ids": [262, END], "logprobs": lp[:2]},
        {"role": "tool", "text": "o"},
        {"role": "assistant", "text": "cat", "token_ids": [263, END], "logprobs": lp[:2]},
    ]}
    [whole] = encode_sample(tok, canonical, 512, False)
    assert whole.ids == [USER, ord("q"), END, ASSISTANT, 262, END, USER, ord("o"), END, ASSISTANT, 263, END]
    # The sampler spelled "ls" as the bytes l, s: later prompts held the text "ls", re-encoded as 262.
    drifted = json.loads(json.dumps(canonical))
    drifted["turns"][1].update(token_ids=[ord("l"), ord("s"), END], logprobs=lp)
    first, second = encode_sample(tok, drifted, 512, False)
    assert first.ids == [USER, ord("q"), END, ASSISTANT, ord("l"), ord("s"), END]
    assert first.loss_mask == [0, 0, 0, 1, 1, 1] and first.old_logprobs[3:] == lp
    assert second.ids == whole.ids  # the re-encoded prefix, then turn 2 scored on its own ids
    assert second.loss_mask == [0] * 9 + [1, 1]
    assert all(math.isnan(x) for x in second.old_logprobs[:9]) and second.old_logprobs[9:] == lp[:2]
