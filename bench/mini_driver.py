"""One mini-swe-agent episode for `npm run bench -- scale` (run with the pinned mini-swe-agent venv):
its default text-based agent and config, litellm's OpenAI-compatible model pointed at swerl's scripted
policy server (loopback), and its Docker environment on the same task image with the sandbox's
limits. Prints {"perTurnMs": [...], "turnEnds": [epoch ms, ...], "loopMs": ..., "patch": ...} on stdout: the
patch (the agent's changes to /repo, untracked files included) is scored by the bench like the others'."""
import json
import os
import time
from pathlib import Path

import yaml
from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.docker import DockerEnvironment
from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel
import minisweagent

CONFIG = yaml.safe_load((Path(minisweagent.__file__).parent / "config" / "mini_textbased.yaml").read_text())


class TimedAgent(DefaultAgent):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.per_turn_ms = []
        self.turn_ends = []

    def step(self):
        t = time.perf_counter()
        try:
            return super().step()
        finally:
            self.per_turn_ms.append((time.perf_counter() - t) * 1000)
            self.turn_ends.append(time.time() * 1000)


def main():
    turns = int(os.environ["MINI_TURNS"])
    env = DockerEnvironment(
        image=os.environ["MINI_IMAGE"],
        cwd="/repo",
        timeout=120,
        run_args=["--rm", "--network", "none", "--cpus", "0.5", "--memory", "2g", "--user", "1000:1000",
                  "--label", "swerl.bench=mini", "--label", "swerl.bench-run=" + os.environ["MINI_NAME"],
                  "--label", os.environ.get("MINI_RUN_LABEL", "swerl.bench-mini=1")],
        interpreter=["bash", "-c"],
    )
    model_cfg = dict(CONFIG.get("model", {}))
    model_cfg.pop("model_name", None)
    kwargs = dict(model_cfg.pop("model_kwargs", {}) or {})
    kwargs.update({"api_base": os.environ["MINI_API_BASE"], "api_key": "bench", "temperature": 1.0})
    model = LitellmTextbasedModel(model_name="openai/bench", model_kwargs=kwargs, cost_tracking="ignore_errors",
                                  action_regex=r"```\s*\n(.*?)\n```", **model_cfg)
    agent_cfg = {k: v for k, v in CONFIG["agent"].items() if k != "mode"}
    agent_cfg.update({"step_limit": turns, "cost_limit": 0, "max_consecutive_format_errors": 0})
    agent = TimedAgent(model, env, **agent_cfg)
    t = time.perf_counter()
    try:
        try:
            agent.run(os.environ["MINI_TASK"])
        except Exception:
            pass  # the step limit ends the run; any other failure shows as missing turns below
        loop_ms = (time.perf_counter() - t) * 1000
        diff = env.execute({"command": "git add -A >/dev/null 2>&1 && git -c core.quotePath=true diff --cached --binary HEAD"}, cwd="/repo")
    finally:
        env.cleanup()
    if diff["returncode"] != 0:
        raise SystemExit("git diff in mini-swe-agent's container failed: {}".format(diff["output"][-1000:]))
    turns_done = agent.per_turn_ms[:turns]
    if len(turns_done) < turns:
        raise SystemExit("mini-swe-agent ran {} of {} turns; last message: {}".format(
            len(turns_done), turns, json.dumps(agent.messages[-1])[:1000]))
    print(json.dumps({"perTurnMs": turns_done, "turnEnds": agent.turn_ends[:turns], "loopMs": loop_ms, "patch": diff["output"]}))


if __name__ == "__main__":
    main()
