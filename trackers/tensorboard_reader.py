"""Reads a TensorBoard log directory back with TensorBoard's own EventAccumulator.

argv[1]: the log directory. stdout: {"scalars": {tag: [[step, value], ...]}, "texts": {tag: [[step, text], ...]}}.
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main() -> None:
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags.get("scalars", [])}
    texts = {}
    for t in tags.get("tensors", []):
        if not t.endswith("/text_summary"):
            continue
        texts[t[: -len("/text_summary")]] = [[e.step, e.tensor_proto.string_val[0].decode("utf-8")] for e in acc.Tensors(t)]
    print(json.dumps({"scalars": scalars, "texts": texts}))


if __name__ == "__main__":
    main()
