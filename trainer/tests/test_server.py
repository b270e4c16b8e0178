"""The policy server over real HTTP, and the decoding processors against hand-computed numbers."""
import json
import math
import threading
import urllib.request

import pytest
import torch

from conftest import BASE_ID, http_json, step_input
from swerl_trainer import checkpoint as ckpt
from swerl_trainer.model import token_logprobs
from swerl_trainer.sampling import Decoding, process_logits
from swerl_trainer.server import make_server
from swerl_trainer.steps import run_step
from swerl_trainer.tokenizer import ChatMessage

LOGITS = torch.log(torch.tensor([4.0, 3.0, 2.0, 1.0]))  # probs 0.4, 0.3, 0.2, 0.1
NONE = torch.tensor([], dtype=torch.long)


@pytest.mark.parametrize(
    "d, probs",
    [
        (Decoding(), [0.4, 0.3, 0.2, 0.1]),
        (Decoding(top_k=2), [4 / 7, 3 / 7, 0, 0]),
        (Decoding(top_p=0.6), [4 / 7, 3 / 7, 0, 0]),  # 0.4 < 0.6 so the 0.3 token is still needed
        (Decoding(min_p=0.5), [4 / 9, 3 / 9, 2 / 9, 0]),  # keep p >= 0.5 * 0.4
        (Decoding(temperature=0.5), [16 / 30, 9 / 30, 4 / 30, 1 / 30]),
    ],
)
def test_logit_processing(d, probs):
    assert process_logits(LOGITS, NONE, d).exp().tolist() == pytest.approx(probs, abs=1e-6)


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([math.log(4), -1.0, 0.0])
    got = process_logits(logits, torch.tensor([0, 1]), Decoding(repetition_penalty=2.0)).exp()
    want = torch.tensor([2.0, math.exp(-2.0), 1.0])
    assert got.tolist() == pytest.approx((want / want.sum()).tolist(), abs=1e-6)


@pytest.fixture
def server(root):
    srv = make_server(root, BASE_ID, port=0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()
    srv.server_close()


def _post(url, path, body):
    return http_json(url + path, body, timeout=60)


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "fix it"}]


def test_completion_is_well_formed_with_logprobs_token_ids_and_echoed_decoding(server):
    url, root = server
    status, r = _post(url, "/v1/chat/completions", {"model": "swerl-policy", "messages": MESSAGES, "max_tokens": 40, "seed": 5, "temperature": 1.0})
    assert status == 200 and r["object"] == "chat.completion" and r["model"] == BASE_ID
    c = r["choices"][0]
    ids, lps = c["token_ids"], c["logprobs"]["content"]
    assert len(ids) == len(lps) == r["usage"]["completion_tokens"] <= 40
    assert c["finish_reason"] in ("stop", "length")
    assert all(set(e) == {"token", "logprob", "bytes", "top_logprobs"} and e["logprob"] <= 0 for e in lps)
    assert c["message"] == {"role": "assistant", "content": bytes(t for t in ids if t < 256).decode("utf-8", "replace")}
    assert r["swerl_decoding"] == {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0,
                                   "max_tokens": 40, "seed": 5, "max_tokens_effective": 40, "stop": []}
    # The sampler's logprobs are the trainer's logprobs of the same tokens: importance ratio 1.
    c0 = ckpt.load(root, BASE_ID)
    prompt = c0.tokenizer.encode_prompt([ChatMessage(m["role"], m["content"]) for m in MESSAGES])
    seq = torch.tensor([prompt + ids])
    with torch.no_grad():
        lp = token_logprobs(c0.model(seq[:, :-1])[0], seq[:, 1:])[0, len(prompt) - 1:]
    assert lp.tolist() == pytest.approx([e["logprob"] for e in lps], abs=1e-4)


def test_same_seed_same_completion_and_top_k_1_is_greedy(server):
    url, _ = server
    body = {"messages": MESSAGES, "max_tokens": 20, "seed": 11}
    assert _post(url, "/v1/chat/completions", body)[1]["choices"][0]["token_ids"] == _post(url, "/v1/chat/completions", body)[1]["choices"][0]["token_ids"]
    _, r = _post(url, "/v1/chat/completions", {**body, "top_k": 1})
    assert all(e["logprob"] == 0.0 for e in r["choices"][0]["logprobs"]["content"])
    assert r["swerl_decoding"]["top_k"] == 1


def test_context_overflow_is_an_openai_style_400(server):
    url, _ = server
    status, r = _post(url, "/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * 600}]})
    assert status == 400 and r["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 512 tokens" in r["error"]["message"]


def test_bad_requests_are_rejected_with_the_field_named(server):
    url, _ = server
    assert _post(url, "/v1/chat/completions", {"messages": [{"role": "bot", "content": "x"}]})[1]["error"]["param"] == "messages[0].role"
    assert _post(url, "/v1/chat/completions", {"messages": MESSAGES, "n": 2})[0] == 400
    assert _post(url, "/v1/chat/completions", {"messages": MESSAGES, "top_p": 0})[1]["error"]["param"] == "top_p"


def test_hot_reload_and_per_request_checkpoint(server):
    url, root = server
    cid = run_step(root, "sft", step_input())["checkpoint_id"]
    status, r = _post(url, "/v1/load", {"checkpoint": cid})
    assert status == 200 and r["checkpoint_id"] == cid
    with urllib.request.urlopen(url + "/health") as h:
        assert json.loads(h.read())["checkpoint_id"] == cid
    assert _post(url, "/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 2})[1]["model"] == cid
    # A request may pin the policy version it was scheduled with, whatever is loaded.
    assert _post(url, "/v1/chat/completions", {"model": BASE_ID, "messages": MESSAGES, "max_tokens": 2})[1]["model"] == BASE_ID
    status, r = _post(url, "/v1/load", {"checkpoint": "run-1/none"})
    assert status == 404 and r["error"]["code"] == "SWERL_CHECKPOINT_NOT_FOUND"


def test_trajectory_sampled_by_the_server_trains_with_ratio_one(server):
    """Sampler and trainer lay a multi-turn trajectory out identically (observations stored as
    `tool`, sent as `user`), so the recorded logprobs are the trainer's: no clipping, KL ~ 0."""
    url, root = server
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "fix it"}]
    turns = [{"role": m["role"], "text": m["content"]} for m in messages]
    for k in range(2):
        _, r = _post(url, "/v1/chat/completions", {"messages": messages, "max_tokens": 24, "seed": k})
        c = r["choices"][0]
        turns.append({"role": "assistant", "text": c["message"]["content"], "token_ids": c["token_ids"],
                      "logprobs": [e["logprob"] for e in c["logprobs"]["content"]], "format_error": False})
        turns.append({"role": "tool", "text": f"observation {k}"})
        messages += [{"role": "assistant", "content": c["message"]["content"]}, {"role": "user", "content": f"observation {k}"}]
    sample = {"episode_id": "ep-served", "advantage": 1.0, "decoding": r["swerl_decoding"], "turns": turns}
    inp = step_input(0, [sample])
    inp["step_key"]["stage"] = "rl-1"
    m = run_step(root, "rl", inp)["metrics"]
    assert m["clip_fraction"] == 0.0
    assert abs(m["approx_kl"]) < 1e-5


def test_a_model_name_that_is_no_checkpoint_is_refused_not_served_by_the_default(server):
    url, _ = server
    status, r = _post(url, "/v1/chat/completions", {"model": "some-other-version", "messages": MESSAGES, "max_tokens": 2})
    assert status == 404 and r["error"]["code"] == "model_not_found" and r["error"]["param"] == "model"
    # The alias and the checkpoint id itself are served.
    assert _post(url, "/v1/chat/completions", {"model": "swerl-policy", "messages": MESSAGES, "max_tokens": 2})[1]["model"] == BASE_ID
    assert _post(url, "/v1/chat/completions", {"model": BASE_ID, "messages": MESSAGES, "max_tokens": 2})[1]["model"] == BASE_ID
