"""A one-activity workflow so tests can call the trainer's activities through a real Temporal server.

Kept in its own module with no heavy imports: Temporal re-imports workflow modules in its sandbox.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType


@workflow.defn
class CallActivity:
    @workflow.run
    async def run(self, req: dict[str, Any]) -> Any:
        return await workflow.execute_activity(
            req["activity"],
            req["input"],
            task_queue=req["task_queue"],
            start_to_close_timeout=timedelta(seconds=req.get("start_to_close_sec", 120)),
            heartbeat_timeout=timedelta(seconds=req.get("heartbeat_sec", 10)),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=req.get("max_attempts", 5)),
            # A cancelled workflow waits until the activity has really stopped.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
