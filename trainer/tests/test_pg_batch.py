"""Batches read from a real Postgres (a throwaway cluster started here, as the postgres user)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PAPER_DECODING, step_input, trajectory
from swerl_trainer.errors import TRAINER_BAD_BATCH, TRAINER_FAILED, TrainerFault
from swerl_trainer.ledger import Ledger
from swerl_trainer.steps import run_step

PG_BIN = Path("/usr/lib/postgresql/15/bin")
pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists() or os.geteuid() != 0, reason="needs Debian's PostgreSQL 15 and root")

# The columns the trainer reads, as in db/schema.ts (episodes, turns).
SCHEMA = """
CREATE TABLE episodes (id text PRIMARY KEY, decoding jsonb NOT NULL);
CREATE TABLE turns (episode_id text NOT NULL REFERENCES episodes(id), idx integer NOT NULL, role text NOT NULL,
  text text NOT NULL, token_ids jsonb, logprobs jsonb, format_error boolean NOT NULL DEFAULT false, tokens_ref text,
  PRIMARY KEY (episode_id, idx));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


@pytest.fixture(scope="module")
def dsn():
    import psycopg

    data = Path(tempfile.mkdtemp(prefix="swerl-trainer-pg-"))
    shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                 "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(url) as conn:
        conn.execute(SCHEMA)
        for n, ep in enumerate([trajectory("ep-a", answer="ls"), trajectory("ep-b", answer="pytest")]):
            conn.execute("INSERT INTO episodes VALUES (%s, %s)", (ep["episode_id"], json.dumps(ep["decoding"])))
            for i, t in enumerate(ep["turns"]):
                conn.execute(
                    "INSERT INTO turns (episode_id, idx, role, text, format_error) VALUES (%s, %s, %s, %s, %s)",
                    (ep["episode_id"], i, t["role"], t["text"], t.get("format_error", False)),
                )
        conn.execute("INSERT INTO episodes VALUES ('ep-topk', %s)", (json.dumps({"temperature": 1.0, "topP": 1.0, "topK": 50, "minP": 0, "repetitionPenalty": 1.0}),))
        conn.execute("INSERT INTO turns (episode_id, idx, role, text) VALUES ('ep-topk', 0, 'assistant', 'x')")
        conn.execute("INSERT INTO episodes VALUES ('ep-ref', %s)", (json.dumps(PAPER_DECODING),))
        conn.execute("INSERT INTO turns (episode_id, idx, role, text, tokens_ref) VALUES ('ep-ref', 0, 'assistant', 'x', 's3://t/1')")
        # Sampled ids and logprobs stored inline, as the rollout side writes them.
        conn.execute("INSERT INTO episodes VALUES ('ep-ids', %s)", (json.dumps(PAPER_DECODING),))
        conn.execute("INSERT INTO turns (episode_id, idx, role, text) VALUES ('ep-ids', 0, 'user', 'q')")
        conn.execute("INSERT INTO turns (episode_id, idx, role, text, token_ids, logprobs) VALUES "
                     "('ep-ids', 1, 'assistant', 'AB', '[65, 66, 260]', '[-20.0, -20.0, -20.0]')")
    yield url
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
    shutil.rmtree(data, ignore_errors=True)


def _pg_input(dsn: str, ids: list[str], advantages: list[float] | None) -> dict:
    inp = step_input()
    inp["step_key"]["stage"] = "rl-1"
    inp["batch"] = {"kind": "postgres", "dsn": dsn, "episode_ids": ids}
    if advantages is not None:
        inp["batch"]["advantages"] = advantages
    return inp


def test_rl_step_from_postgres_matches_the_same_batch_inline(root, dsn):
    out = run_step(root, "rl", _pg_input(dsn, ["ep-a", "ep-b"], [1.0, -1.0]))
    inline = step_input(1, [trajectory("ep-a", 1.0, answer="ls"), trajectory("ep-b", -1.0, answer="pytest")])
    inline["step_key"]["stage"] = "rl-1"
    same = run_step(root, "rl", inline)
    for k in ("loss", "tokens", "sequence_tokens", "grad_norm"):
        assert out["metrics"][k] == pytest.approx(same["metrics"][k], rel=1e-5), k
    assert Ledger(root).rows("run-1")[0]["checkpoint_id"] == "run-1/rl-1/i0000-s0000"


def test_postgres_rl_batch_needs_one_advantage_per_episode(root, dsn):
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _pg_input(dsn, ["ep-a", "ep-b"], [1.0]))
    assert e.value.code == TRAINER_BAD_BATCH


def test_unknown_episode_is_a_bad_batch(root, dsn):
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _pg_input(dsn, ["ep-a", "ep-gone"], [1.0, -1.0]))
    assert e.value.code == TRAINER_BAD_BATCH and "ep-gone" in str(e.value)


def test_decoding_recorded_in_the_database_is_checked(root, dsn):
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _pg_input(dsn, ["ep-topk"], [1.0]))
    assert e.value.code == "SWERL_DECODING_MISMATCH" and "ep-topk" in str(e.value) and "top_k" in str(e.value)


def test_unreachable_database_is_retryable_infra(root):
    dead = f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _pg_input(dead, ["ep-a"], [1.0]))
    assert e.value.code == TRAINER_FAILED and e.value.retryable


def test_turn_whose_tokens_live_elsewhere_is_refused_not_retokenized(root, dsn):
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _pg_input(dsn, ["ep-ref"], [1.0]))
    assert e.value.code == TRAINER_BAD_BATCH and "ep-ref turn 0" in str(e.value)


def test_stored_sampler_logprobs_drive_the_ratio(root, dsn):
    # logprob -20 recorded for every sampled token: ratio >> 1 + eps_high with A > 0, all clipped.
    out = run_step(root, "rl", _pg_input(dsn, ["ep-ids"], [1.0]))
    assert out["metrics"]["tokens"] == 3 and out["metrics"]["clip_fraction"] == 1.0


@pytest.fixture
def configured(monkeypatch):
    """The trainer's own database URL, as worker --database-url sets it; reset after the test."""
    from swerl_trainer import pg_batch

    monkeypatch.delenv("SWERL_DATABASE_URL", raising=False)
    yield pg_batch.configure_database
    pg_batch.configure_database(None)


def _named_input(database: str, ids: list[str], advantages: list[float]) -> dict:
    inp = _pg_input("unused", ids, advantages)
    del inp["batch"]["dsn"]
    inp["batch"]["database"] = database
    return inp


def test_batch_naming_a_database_is_read_with_the_trainers_own_url(root, dsn, configured):
    # The configured URL points at another database of the same server: the batch's name wins,
    # host, port and credentials come from the trainer.
    configured(dsn.rsplit("/", 1)[0] + "/template1")
    by_name = run_step(root, "rl", _named_input("postgres", ["ep-a", "ep-b"], [1.0, -1.0]))
    assert by_name["checkpoint_id"] == "run-1/rl-1/i0000-s0000" and by_name["metrics"]["samples"] == 2


def test_database_url_falls_back_to_the_environment(dsn, configured, monkeypatch):
    from swerl_trainer.pg_batch import connection_string

    monkeypatch.setenv("SWERL_DATABASE_URL", "postgresql://swerl:s3cret@db.example:5432/swerl")
    info = connection_string({"kind": "postgres", "database": "swerl_test_1", "episode_ids": ["x"]})
    assert "dbname=swerl_test_1" in info and "host=db.example" in info and "password=s3cret" in info


def test_batch_naming_a_database_without_a_configured_url_is_retryable_and_says_how_to_fix(root, configured):
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _named_input("swerl", ["ep-a"], [1.0]))
    assert e.value.code == TRAINER_FAILED and e.value.retryable and "--database-url" in str(e.value)


@pytest.mark.parametrize("batch", [
    {"kind": "postgres", "episode_ids": ["ep-a"], "advantages": [1.0]},
    {"kind": "postgres", "database": "swerl", "dsn": "postgresql://x/swerl", "episode_ids": ["ep-a"], "advantages": [1.0]},
    {"kind": "postgres", "database": "swerl; drop", "episode_ids": ["ep-a"], "advantages": [1.0]},
])
def test_contract_wants_exactly_one_of_database_and_dsn(root, batch):
    inp = step_input()
    inp["batch"] = batch
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", inp)
    assert e.value.code == TRAINER_BAD_BATCH and "batch" in str(e.value)
