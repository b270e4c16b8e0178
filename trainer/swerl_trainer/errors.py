"""Stable error codes of the trainer, mirrored from core/errors.ts.

The Temporal failure type is the code, so the TS workflows match on it exactly as they do for
their own errors. Bad inputs (a decoding mismatch, a malformed batch, a step key reused with a
different input) are final; everything else is infra and Temporal retries it.
"""
from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

DECODING_MISMATCH = "SWERL_DECODING_MISMATCH"
TRAINER_FAILED = "SWERL_TRAINER_FAILED"
TRAINER_STEP_CONFLICT = "SWERL_TRAINER_STEP_CONFLICT"
CHECKPOINT_NOT_FOUND = "SWERL_CHECKPOINT_NOT_FOUND"
POLICY_UNAVAILABLE = "SWERL_POLICY_UNAVAILABLE"  # load_policy cannot reach the policy server
# Not yet in core/errors.ts (reported to its owner): a checkpoint dir that exists but cannot be
# loaded, and a batch that violates the contract (bad token ids, no trainable tokens, ...).
CHECKPOINT_INVALID = "SWERL_CHECKPOINT_INVALID"
TRAINER_BAD_BATCH = "SWERL_TRAINER_BAD_BATCH"

RETRYABLE = frozenset({TRAINER_FAILED})


class TrainerFault(Exception):
    """A trainer error with a stable code; `details` names the offending object."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = details or {}

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def to_application_error(self) -> ApplicationError:
        return ApplicationError(
            str(self), self.details, type=self.code, non_retryable=not self.retryable
        )
