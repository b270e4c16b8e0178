"""OpenAI-compatible policy server for the reference policy (stdlib http.server, no extra deps).

POST /v1/chat/completions  choices[0].message.content, choices[0].logprobs.content[i] =
                           {token, logprob, bytes, top_logprobs: []}, choices[0].token_ids (the
                           sampled ids, incl. a final <|end|> when the turn stopped), usage, and
                           `swerl_decoding` echoing the decoding params used. `model` is a
                           checkpoint id (that exact policy version is sampled; the response's
                           `model` is the id), or the served alias (`--served-model-name`,
                           default `swerl-policy`) or absent for the current default version.
                           Any other name is refused, HTTP 404 `model_not_found`, as vLLM does: a
                           rollout never samples silently from a version it did not ask for.
                           `--exclusive`: only the current version (id or alias) is served, other
                           checkpoint ids are refused too (what vLLM serving one version does).
POST /v1/load {checkpoint} hot-reloads the default checkpoint.
GET  /health, GET /v1/models.
A prompt that leaves no room in the context is refused with HTTP 400, code
`context_length_exceeded`, as vLLM does.
"""
from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch

from . import checkpoint as ckpt
from .errors import TrainerFault
from .ledger import Ledger
from .sampling import Decoding, generate
from .tokenizer import ROLES, ChatMessage

log = logging.getLogger("swerl_trainer.server")


class RequestError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code, self.param, self.kind = status, code, param, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


class Policy:
    """The loaded checkpoints (a few, LRU) and which one is the default."""

    def __init__(
        self,
        root: Path,
        default: str,
        strict_max_tokens: bool = False,
        cache_size: int = 3,
        served_name: str = "swerl-policy",
        exclusive: bool = False,
    ) -> None:
        self.root = root
        self.served_name = served_name
        self.exclusive = exclusive
        self.strict_max_tokens = strict_max_tokens
        self._cache: OrderedDict[str, ckpt.Checkpoint] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # 2 CPU cores: one generation at a time is the fastest anyway
        self.default_id = self.load(default).id

    def _get(self, ref: str) -> ckpt.Checkpoint:
        cid, _ = ckpt.resolve(self.root, ref)
        if cid in self._cache:
            self._cache.move_to_end(cid)
            return self._cache[cid]
        c = ckpt.load(self.root, ref)
        c.model.eval()
        c.optimizer_state = None  # not needed to sample; frees memory
        self._cache[c.id] = c
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return c

    def load(self, ref: str) -> ckpt.Checkpoint:
        with self._lock:
            c = self._get(ref)
            self.default_id = c.id
            return c

    def complete(self, req: dict[str, Any]) -> dict[str, Any]:
        messages = _messages(req.get("messages"))
        if req.get("n", 1) != 1:
            raise RequestError(400, "only n=1 is supported", param="n")
        if req.get("stream"):
            raise RequestError(400, "streaming is not supported", param="stream")
        d = _decoding(req)
        stop = req.get("stop")
        stop_list = [stop] if isinstance(stop, str) else list(stop or [])
        with self._lock:
            model_ref = req.get("model")
            if model_ref in (None, "", self.served_name, self.default_id):
                c = self._get(self.default_id)
            elif not self.exclusive and _is_checkpoint(self.root, model_ref):
                c = self._get(model_ref)
            else:
                raise RequestError(
                    404,
                    f"The model `{model_ref}` does not exist: this server samples "
                    + (f"only {self.default_id}" if self.exclusive else f"checkpoint ids under {self.root}")
                    + f" and `{self.served_name}` (now {self.default_id})",
                    code="model_not_found",
                    param="model",
                    kind="NotFoundError",
                )
            prompt = c.tokenizer.encode_prompt(messages)
            ctx = c.model.cfg.max_seq_len
            room = ctx - len(prompt)
            if room <= 0 or (self.strict_max_tokens and d.max_tokens is not None and d.max_tokens > room):
                asked = d.max_tokens or 1
                raise RequestError(
                    400,
                    f"This model's maximum context length is {ctx} tokens. However, you requested "
                    f"{len(prompt) + asked} tokens ({len(prompt)} in the messages, {asked} in the completion). "
                    "Please reduce the length of the messages or completion.",
                    code="context_length_exceeded",
                    param="messages",
                )
            max_tokens = room if d.max_tokens is None else min(d.max_tokens, room)
            started = time.monotonic()
            out = generate(c.model, c.tokenizer, prompt, d, max_tokens, stop_list)
            elapsed = time.monotonic() - started
        tok = c.tokenizer
        content = tok.decode(t for t in out.token_ids if t != tok.end_id)
        for s in stop_list:
            if s in content:
                content = content[: content.index(s)]
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": out.finish_reason,
            "logprobs": {
                "content": [
                    {"token": tok.token_str(t), "logprob": lp, "bytes": list(tok.token_bytes(t)), "top_logprobs": []}
                    for t, lp in zip(out.token_ids, out.logprobs)
                ]
            },
            "token_ids": out.token_ids,
        }
        resp: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": c.id,
            "choices": [choice],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out.token_ids), "total_tokens": len(prompt) + len(out.token_ids)},
            "swerl_decoding": {**d.to_json(), "max_tokens_effective": max_tokens, "stop": stop_list},
            "swerl_checkpoint_id": c.id,
            "swerl_timing": {"seconds": elapsed, "tokens_per_sec": len(out.token_ids) / max(elapsed, 1e-9)},
        }
        if req.get("return_token_ids"):
            resp["prompt_token_ids"] = prompt
        return resp


def _is_checkpoint(root: Path, ref: Any) -> bool:
    if not isinstance(ref, str) or not ref:
        return False
    try:
        return ckpt.exists(ckpt.resolve(root, ref)[1])
    except TrainerFault:
        return False


def _messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(400, f"messages[{i}].role must be one of {', '.join(ROLES)}", param=f"messages[{i}].role")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise RequestError(400, f"messages[{i}].content must be a string", param=f"messages[{i}].content")
        out.append(ChatMessage(m["role"], content))
    return out


def _decoding(req: dict[str, Any]) -> Decoding:
    def num(name: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        v = req.get(name, default)
        if v is None:
            v = default
        if not isinstance(v, (int, float)) or isinstance(v, bool) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RequestError(400, f"{name} must be a number in [{lo}, {hi}]", param=name)
        return float(v)

    max_tokens = req.get("max_tokens", req.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise RequestError(400, "max_tokens must be a positive integer", param="max_tokens")
    seed = req.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise RequestError(400, "seed must be an integer", param="seed")
    return Decoding(
        temperature=num("temperature", 1.0, 0.0, 100.0),
        top_p=num("top_p", 1.0, 1e-9, 1.0),
        top_k=int(num("top_k", -1, -1)),
        min_p=num("min_p", 0.0, 0.0, 1.0),
        repetition_penalty=num("repetition_penalty", 1.0, 1e-9),
        max_tokens=max_tokens,
        seed=seed,
    )


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 JSON request/response plumbing shared by the policy server and vllm_serve's control port."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError as e:
            raise RequestError(400, f"request body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise RequestError(400, "request body must be a JSON object")
        return body


def make_handler(policy: Policy) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {"status": "ok", "checkpoint_id": policy.default_id})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": policy.default_id, "object": "model", "owned_by": "swerl"},
                    {"id": policy.served_name, "object": "model", "owned_by": "swerl", "swerl_alias_of": policy.default_id},
                ]})
            else:
                self._send(404, RequestError(404, f"no route GET {self.path}", kind="not_found_error").body())

        def do_POST(self) -> None:
            try:
                if self.path == "/v1/chat/completions":
                    self._send(200, policy.complete(self._body()))
                elif self.path == "/v1/load":
                    ref = self._body().get("checkpoint")
                    if not isinstance(ref, str):
                        raise RequestError(400, "checkpoint must be a string", param="checkpoint")
                    c = policy.load(ref)
                    self._send(200, {"checkpoint_id": c.id, "path": str(c.path)})
                else:
                    raise RequestError(404, f"no route POST {self.path}", kind="not_found_error")
            except RequestError as e:
                self._send(e.status, e.body())
            except TrainerFault as e:
                status = 404 if e.code == "SWERL_CHECKPOINT_NOT_FOUND" else 500
                self._send(status, RequestError(status, str(e), code=e.code, kind="swerl_error").body())
            except Exception as e:  # keep serving; the client sees a 500 and retries as infra
                log.exception("request failed")
                self._send(500, RequestError(500, f"{type(e).__name__}: {e}", kind="server_error").body())

    return Handler


def default_checkpoint(root: Path, fallback: str) -> str:
    row = Ledger(root).latest()
    return row["checkpoint_id"] if row else fallback


def make_server(
    root: Path,
    checkpoint: str,
    host: str = "127.0.0.1",
    port: int = 0,
    strict_max_tokens: bool = False,
    served_name: str = "swerl-policy",
    exclusive: bool = False,
) -> ThreadingHTTPServer:
    policy = Policy(root, checkpoint, strict_max_tokens, served_name=served_name, exclusive=exclusive)
    server = ThreadingHTTPServer((host, port), make_handler(policy))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="swerl_trainer.server", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", required=True)
    p.add_argument("--checkpoint", default="latest", help="checkpoint id, or `latest` (newest in the ledger, else --init-base)")
    p.add_argument("--init-base", default="swerl-tiny-base", help="seeded base policy created if missing")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--max-seq-len", type=int, default=None, help="context of that base (default: the preset's)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--strict-max-tokens", action="store_true", help="refuse (400) when prompt + max_tokens exceeds the context, like vLLM")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--served-model-name", default="swerl-policy", help="model name that means the current default checkpoint")
    p.add_argument("--exclusive", action="store_true", help="serve only the current checkpoint (its id or the alias); refuse other ids")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.checkpoints).resolve()
    overrides = {"max_seq_len": args.max_seq_len} if args.max_seq_len else {}
    ckpt.create_base(root, args.init_base, preset=args.preset, **overrides)
    ref = default_checkpoint(root, args.init_base) if args.checkpoint == "latest" else args.checkpoint
    server = make_server(root, ref, args.host, args.port, args.strict_max_tokens, args.served_model_name, args.exclusive)
    print(json.dumps({"event": "policy_server_ready", "url": f"http://{args.host}:{server.server_address[1]}", "checkpoint_id": ref}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
