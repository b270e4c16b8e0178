"""First actions and pass rates of learn-suite runs, by stage (docs/learn-demo-attempts.md section 6).

  trainer/.venv/bin/python scripts/learn_first_actions.py --database-url "$(jq -r .databaseUrl $SWERL_HOME/endpoints.json)" RUN...

For every stage of each run: episodes, Pass@1, and the first action classified against the line N the
issue says must be deleted (`sed -i 'Nd' app.py`): N, N+1, another number the issue mentions,
another line within 3 of N, a farther line, or no sed at all. With --paired-from STAGE (default
rft-eval): each stage's pass rate against that stage's, paired by task (mean and SEM of the per-task
differences, as cli/demoReport.ts pairs evals).
"""
from __future__ import annotations

import argparse
import math
import re
from collections import Counter, defaultdict

import psycopg

CLASSES = ("N", "N+1", "issue number", "within 3", "farther", "no sed")


def classify(issue: str, command: str | None) -> str:
    gold = re.search(r"the statement on line (\d+) must be deleted", issue)
    action = re.search(r"sed -i '(\d+)d' app\.py", command or "")
    if action is None or gold is None:
        return "no sed"
    n, g = int(action.group(1)), int(gold.group(1))
    if n == g:
        return "N"
    if n == g + 1:
        return "N+1"
    if n in {int(x) for x in re.findall(r"\d+", issue.split("</issue>")[0])}:
        return "issue number"
    return "within 3" if abs(n - g) <= 3 else "farther"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--paired-from", default="rft-eval")
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    with psycopg.connect(a.database_url) as conn:
        for run in a.runs:
            rows = conn.execute(
                """select e.stage, e.task_id, e.reward,
                          (select text from turns u where u.episode_id = e.id and u.role = 'user' order by idx limit 1),
                          (select command from turns c where c.episode_id = e.id and c.role = 'assistant' order by idx limit 1)
                   from episodes e where e.run_id = %s and e.reward is not null order by e.stage""",
                (run,),
            ).fetchall()
            classes: dict[str, Counter[str]] = defaultdict(Counter)
            by_task: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
            for stage, task, reward, issue, command in rows:
                classes[stage][classify(issue or "", command)] += 1
                by_task[stage][task][0] += int(reward == 1)
                by_task[stage][task][1] += 1
            print(f"# {run}")
            print("| stage | episodes | Pass@1 | " + " | ".join(CLASSES) + f" | − {a.paired_from}, paired by task (SEM) | tasks up / down |")
            print("|---|---|---|" + "---|" * len(CLASSES) + "---|---|")
            base = by_task.get(a.paired_from)
            for stage, c in classes.items():
                n = sum(c.values())
                solved = sum(v[0] for v in by_task[stage].values())
                paired = "-"
                updown = "-"
                tasks = sorted(set(base or {}) & set(by_task[stage]))
                if base and stage != a.paired_from and len(tasks) >= 2:
                    d = [by_task[stage][t][0] / by_task[stage][t][1] - base[t][0] / base[t][1] for t in tasks]
                    m = sum(d) / len(d)
                    sem = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
                    paired = f"{m * 100:+.1f} ({sem * 100:.1f}), {len(tasks)} tasks"
                    updown = f"{sum(x > 0 for x in d)} / {sum(x < 0 for x in d)}"
                shares = " | ".join(f"{100 * c[k] / n:.0f}%" for k in CLASSES)
                print(f"| {stage} | {n} | {100 * solved / n:.1f}% | {shares} | {paired} | {updown} |")
            print()


if __name__ == "__main__":
    main()
