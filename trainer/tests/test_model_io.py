"""Tokenizer and checkpoint round trips, seeded init, trajectory encoding and micro-batching."""
import math

import pytest
import torch

from conftest import BASE_ID, trajectory
from swerl_trainer import checkpoint as ckpt
from swerl_trainer.batch import EncodedSample, encode_sample, micro_batches
from swerl_trainer.errors import CHECKPOINT_NOT_FOUND, TRAINER_BAD_BATCH, TrainerFault
from swerl_trainer.model import CausalLM, preset_config
from swerl_trainer.tokenizer import ByteTokenizer, ChatMessage


def test_tokenizer_round_trips_unicode_and_keeps_special_strings_as_text():
    tok = ByteTokenizer()
    text = "héllo ✓ <|end|> \x00"
    ids = tok.encode(text)
    assert all(i < 256 for i in ids)  # a literal "<|end|>" cannot forge a turn boundary
    assert tok.decode(ids) == text
    assert tok.vocab_size == 264 and tok.end_id == 260


def test_chat_template_layout():
    tok = ByteTokenizer()
    ids = tok.encode_prompt([ChatMessage("system", "S"), ChatMessage("user", "hi")])
    s = tok.special
    assert ids == [s["<|system|>"], ord("S"), s["<|end|>"], s["<|user|>"], ord("h"), ord("i"), s["<|end|>"], s["<|assistant|>"]]
    with pytest.raises(ValueError, match="unknown chat role 'bot'"):
        tok.encode_message("bot", "x")


def test_checkpoint_round_trip_is_exact(tmp_path):
    tok = ByteTokenizer()
    model = CausalLM.initialized(preset_config("test", tok.vocab_size, seed=3))
    opt = {"blocks.0.qkv.weight.step": torch.tensor(2.0)}
    assert ckpt.write_atomically(tmp_path / "a", model, tok, opt)
    loaded = ckpt.load(tmp_path, "a")
    assert loaded.model.cfg == model.cfg
    for (n1, p1), (n2, p2) in zip(model.state_dict().items(), loaded.model.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert loaded.optimizer_state["blocks.0.qkv.weight.step"].item() == 2.0
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(model(ids)[0], loaded.model(ids)[0])
    assert not list(tmp_path.glob(".tmp-*"))  # the temp dir was renamed, nothing left behind


def test_second_writer_to_the_same_path_keeps_the_first(tmp_path):
    tok = ByteTokenizer()
    a = CausalLM.initialized(preset_config("test", tok.vocab_size, seed=1))
    b = CausalLM.initialized(preset_config("test", tok.vocab_size, seed=2))
    assert ckpt.write_atomically(tmp_path / "x", a, tok)
    assert not ckpt.write_atomically(tmp_path / "x", b, tok)
    assert torch.equal(ckpt.load(tmp_path, "x").model.tok_emb.weight, a.tok_emb.weight)


def test_seeded_init_is_deterministic_and_seed_sensitive():
    cfg = preset_config("test", 264, seed=7)
    w1 = CausalLM.initialized(cfg).tok_emb.weight
    w2 = CausalLM.initialized(cfg).tok_emb.weight
    w3 = CausalLM.initialized(preset_config("test", 264, seed=8)).tok_emb.weight
    assert torch.equal(w1, w2) and not torch.equal(w1, w3)


def test_kv_cache_matches_full_forward(root):
    model = ckpt.load(root, BASE_ID).model.eval()
    ids = torch.tensor([[5, 9, 200, 33, 7, 1]])
    full, _ = model(ids)
    prefix, cache = model(ids[:, :4])
    step, _ = model(ids[:, 4:], past=cache)
    assert torch.allclose(torch.cat([prefix, step], dim=1), full, atol=1e-5)


def test_recomputed_long_sequence_gradients_equal_the_stored_ones(root, monkeypatch):
    import swerl_trainer.model as model_module

    model = ckpt.load(root, BASE_ID).model.train()
    ids = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))

    def grads():
        model.zero_grad()
        model(ids)[0].logsumexp(-1).mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    stored = grads()
    monkeypatch.setattr(model_module, "RECOMPUTE_ABOVE_TOKENS", 8)
    recomputed = grads()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(stored, recomputed))


def test_missing_checkpoint_is_a_coded_error(root):
    with pytest.raises(TrainerFault) as e:
        ckpt.load(root, "nope/never")
    assert e.value.code == CHECKPOINT_NOT_FOUND and "nope/never" in str(e.value)


def test_encoding_masks_observations_and_format_error_turns():
    tok = ByteTokenizer()
    [enc] = encode_sample(tok, trajectory(answer="ls"), max_seq_len=512, mask_format_errors=True)
    trained = bytes(t for t, m in zip(enc.ids[1:], enc.loss_mask) if m and t < 256).decode()
    assert trained == "Let me look.\n```\nls\n```"
    assert enc.loss_tokens == len(trained) + 1  # + the <|end|> that closes the turn
    [unmasked] = encode_sample(tok, trajectory(answer="ls"), max_seq_len=512, mask_format_errors=False)
    assert unmasked.loss_tokens == enc.loss_tokens + len("two blocks") + 1


def test_sampler_token_ids_and_logprobs_are_used_verbatim():
    tok = ByteTokenizer()
    s = {"episode_id": "e", "turns": [
        {"role": "user", "text": "q"},
        {"role": "assistant", "text": "AB", "token_ids": [65, 66], "logprobs": [-0.5, -0.25]},
    ]}
    [enc] = encode_sample(tok, s, 512, True)
    # <|user|> q <|end|> <|assistant|> A B <|end|>(not sampled: cut at max_tokens -> masked)
    assert enc.ids[4:] == [65, 66, tok.end_id]
    assert enc.loss_mask == [0, 0, 0, 1, 1, 0]
    assert enc.old_logprobs[3:5] == [-0.5, -0.25] and math.isnan(enc.old_logprobs[5])
    bad = {"episode_id": "e", "turns": [{"role": "assistant", "text": "", "token_ids": [9999]}]}
    with pytest.raises(TrainerFault) as e:
        encode_sample(tok, bad, 512, True)
    assert e.value.code == TRAINER_BAD_BATCH and "episode e turn 0" in str(e.value)


def test_turn_whose_ids_differ_from_its_text_splits_the_trajectory():
    tok = ByteTokenizer()
    # Turn 1 sampled an invalid UTF-8 byte (0xff): the next prompt held its text "\ufffd" re-encoded.
    s = {"episode_id": "e", "turns": [
        {"role": "user", "text": "q"},
        {"role": "assistant", "text": "\ufffd", "token_ids": [0xFF, tok.end_id], "logprobs": [-1.0, -2.0]},
        {"role": "tool", "text": "o"},
        {"role": "assistant", "text": "B", "token_ids": [66, tok.end_id], "logprobs": [-3.0, -4.0]},
    ]}
    first, second = encode_sample(tok, s, 512, False)
    u, a, end = tok.special["<|user|>"], tok.assistant_id, tok.end_id
    assert first.ids == [u, ord("q"), end, a, 0xFF, end]  # cut after the drifting turn
    assert first.loss_tokens == 2 and first.old_logprobs[3:5] == [-1.0, -2.0]
    # The second segment is the prefix as prompted (0xff -> EF BF BD), then turn 2 scored.
    assert second.ids == [u, ord("q"), end, a, 0xEF, 0xBF, 0xBD, end, u, ord("o"), end, a, 66, end]
    assert second.loss_mask == [0] * 11 + [1, 1] and second.old_logprobs[11:] == [-3.0, -4.0]


def test_micro_batches_respect_the_padded_token_budget():
    def seq(n):
        return EncodedSample("e", list(range(n + 1)), [1] * n, [math.nan] * n)

    batches = micro_batches([seq(10), seq(10), seq(30), seq(5), seq(100)], token_budget=40)
    assert [[s.length for s in b.samples] for b in batches] == [[10, 10], [30], [5], [100]]
