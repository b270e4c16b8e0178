"""Read a batch of trajectories from the swerl database (db/schema.ts: episodes, turns).

Passing episode ids instead of inline trajectories keeps large batches out of Temporal history.
Only the columns the trainer needs are read; turns come back in idx order.

Where the rows live: a batch names a database (`{"kind": "postgres", "database": "swerl", ...}`)
on the server this trainer is configured for (worker --database-url, else $SWERL_DATABASE_URL),
so the credentials stay in the trainer's environment and never enter workflow history. Batches
recorded before that (the swerl-batch-ref-no-dsn patch) carry a full `dsn`, still honoured so
their runs finish.
"""
from __future__ import annotations

import os
from typing import Any

from .errors import TRAINER_BAD_BATCH, TRAINER_FAILED, TrainerFault

_configured_url: str | None = None


def configure_database(url: str | None) -> None:
    """The server (and credentials) batches are read from; the worker's --database-url."""
    global _configured_url
    _configured_url = url or None


def connection_string(batch: dict[str, Any]) -> str:
    """The libpq connection string of a batch reference (see the module docstring)."""
    if "dsn" in batch:
        return batch["dsn"]
    database = batch.get("database")
    if not isinstance(database, str) or not database:
        raise TrainerFault(TRAINER_BAD_BATCH, "postgres batch names no database", {"keys": sorted(batch)})
    base = _configured_url or os.environ.get("SWERL_DATABASE_URL")
    if not base:
        # Retryable: starting the trainer with its database URL lets the waiting step proceed.
        raise TrainerFault(TRAINER_FAILED, f"batch reads database {database!r} but this trainer has no database URL: "
                           "start the worker with --database-url or set SWERL_DATABASE_URL", {"database": database})
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        return make_conninfo(base, dbname=database)
    except psycopg.ProgrammingError as e:  # never echo the URL: it holds the password
        raise TrainerFault(TRAINER_FAILED, f"this trainer's database URL is not a valid libpq connection string: {type(e).__name__}") from e


def load_samples(batch: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    import psycopg  # imported here: inline batches (tests, the toy path) need no driver

    ids: list[str] = batch["episode_ids"]
    advantages = batch.get("advantages")
    if kind == "rl" and (advantages is None or len(advantages) != len(ids)):
        raise TrainerFault(TRAINER_BAD_BATCH, f"postgres rl batch has {len(ids)} episode_ids but {0 if advantages is None else len(advantages)} advantages")
    conninfo = connection_string(batch)
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as conn, conn.cursor() as cur:
            cur.execute("SELECT id, decoding FROM episodes WHERE id = ANY(%s)", (ids,))
            decoding = {r[0]: r[1] for r in cur.fetchall()}
            cur.execute(
                "SELECT episode_id, idx, role, text, token_ids, logprobs, format_error, tokens_ref FROM turns "
                "WHERE episode_id = ANY(%s) ORDER BY episode_id, idx",
                (ids,),
            )
            turns: dict[str, list[dict[str, Any]]] = {}
            for eid, idx, role, text, token_ids, logprobs, fmt, tokens_ref in cur.fetchall():
                if tokens_ref is not None and token_ids is None:
                    # Re-tokenizing the text instead would silently drop the sampler's logprobs.
                    raise TrainerFault(TRAINER_BAD_BATCH, f"episode {eid} turn {idx} keeps its tokens at {tokens_ref!r}, which this trainer cannot read", {"episode_id": eid, "turn": idx})
                t: dict[str, Any] = {"role": role, "text": text, "format_error": bool(fmt)}
                if token_ids is not None:
                    t["token_ids"] = token_ids
                if logprobs is not None:
                    t["logprobs"] = logprobs
                turns.setdefault(eid, []).append(t)
    except psycopg.OperationalError as e:  # the database is infra: retry
        raise TrainerFault(TRAINER_FAILED, f"cannot read the batch from postgres: {e}") from e
    missing = [i for i in ids if i not in decoding or i not in turns]
    if missing:
        raise TrainerFault(TRAINER_BAD_BATCH, f"episodes {missing[:5]} have no row or no turns in the database", {"episode_ids": missing})
    samples = []
    for n, eid in enumerate(ids):
        s: dict[str, Any] = {"episode_id": eid, "decoding": decoding[eid], "turns": turns[eid]}
        if advantages is not None:
            s["advantage"] = advantages[n]
        samples.append(s)
    return samples
