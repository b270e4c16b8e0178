"""Writes swerl records to TensorBoard event files with tensorboardX.

stdin: JSON lines, each {"kind": "scalar", "tag", "value", "step", "wall_time"} or
{"kind": "text", "tag", "text", "step", "wall_time"}. argv[1]: the log directory.
stdout: one JSON line {"scalars": n, "texts": m} once every record is flushed to disk.
"""
import json
import sys
import time

from tensorboardX import SummaryWriter


def main() -> None:
    # tensorboardX names a file events.out.tfevents.<unix second>.<host>: two exports within one
    # second would write the same file, the second erasing the first. A nanosecond suffix keeps
    # every export's file apart and in time order.
    writer = SummaryWriter(logdir=sys.argv[1], flush_secs=3600, filename_suffix=f".{time.time_ns():020d}")
    counts = {"scalars": 0, "texts": 0}
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        if r["kind"] == "scalar":
            writer.add_scalar(r["tag"], float(r["value"]), global_step=int(r["step"]), walltime=r.get("wall_time"))
            counts["scalars"] += 1
        elif r["kind"] == "text":
            writer.add_text(r["tag"], r["text"], global_step=int(r["step"]), walltime=r.get("wall_time"))
            counts["texts"] += 1
        else:
            raise SystemExit(f"unknown record kind {r['kind']!r}")
    writer.flush()
    writer.close()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
