import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRunConfig } from '../../config/load';
import { demoActions, demonstration, listing } from '../../tasks/learn/demos';
import { learnInstance } from '../../tasks/learn/family';
import { deletionSolves, lineCount } from '../../tasks/learn/baselines';
import { LEARN_CORPUS, learnCorpus, learnSuiteInstances, MAX_SHARE, SPLIT_PLAN, splitInstances, unseenInstances } from '../../tasks/learn/suite';
import { episodeSeed } from '../../workflows/episodeInput';

describe('learn family', () => {
  it('is deterministic; the issue names the stray line, which the gold fix deletes, and the def line before it', () => {
    const a = learnInstance(1, 5);
    expect(learnInstance(1, 5)).toEqual(a);
    const lines = a.source.split('\n');
    expect(lines[a.line - 1]).toMatch(/^ {4}(\w+) = \1 [-+*] \d$/);
    expect(lines[a.defLine - 1]).toMatch(/^def \w+\(\w+, \w+\):$/);
    expect(a.defLine).toBeLessThan(a.line);
    const gold = a.spec.gold[0]!;
    expect('content' in gold && gold.content).toBe([...lines.slice(0, a.line - 1), ...lines.slice(a.line)].join('\n'));
    expect(a.spec.problem.startsWith(`app.py line ${a.line}: `)).toBe(true);
    expect(a.spec.problem).toContain(`starts on line ${a.defLine}; the statement on line ${a.line} must be deleted.`);
  });

  it('the stray statement looks like the legitimate ones: most modules have several `x = x op k` lines', () => {
    const counts = learnSuiteInstances().map((i) => i.source.split('\n').filter((l) => /^ {4}(\w+) = \1 [-+*] \d$/.test(l)).length);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(5); // 4+ functions, each with a legitimate statement, plus the stray one
  });

  it('three disjoint splits of the planned sizes, no fix line above MAX_SHARE of a split', () => {
    const all = learnSuiteInstances();
    expect(new Set(all.map((i) => i.name)).size).toBe(140);
    expect(new Set(all.map((i) => i.source)).size).toBe(140);
    for (const split of ['train', 'validation', 'test'] as const) {
      const tasks = splitInstances(split);
      expect(tasks).toHaveLength(SPLIT_PLAN[split].size);
      const perLine = new Map<number, number>();
      for (const t of tasks) perLine.set(t.line, (perLine.get(t.line) ?? 0) + 1);
      expect(Math.max(...perLine.values()) / tasks.length).toBeLessThanOrEqual(MAX_SHARE);
      // Wide ranges: many distinct fix lines, and modules long enough that a random line rarely hits.
      expect(perLine.size).toBeGreaterThanOrEqual(20);
      expect(tasks.reduce((n, t) => n + 1 / lineCount(t.source), 0) / tasks.length).toBeLessThan(MAX_SHARE);
    }
  });

  it('the committed tasks.jsonl is the generated suite, and the learn preset gates on validation and reports on test', () => {
    const lines = readFileSync(path.join(__dirname, '..', '..', 'tasks', 'learn', 'tasks.jsonl'), 'utf8').trim().split('\n');
    const committed = Object.fromEntries(lines.map((l) => JSON.parse(l) as { instance_id: string; split: string; problem_statement: string }).map((t) => [t.instance_id, [t.split, t.problem_statement]]));
    const generated = Object.fromEntries(learnSuiteInstances().map((i) => [`learn__${i.name}`, [i.split, i.spec.problem]]));
    expect(committed).toEqual(generated);
    const config = loadRunConfig('learn');
    expect(config.tasks.evalSplit).toBe('test');
    expect(config.promotion.gateSplit).toBe('validation');
  });

  it('exactly one single-line deletion passes each task\'s tests, run with Python: the one baselines.ts scores as solving', () => {
    const tasks = learnSuiteInstances().map((i) => {
      const testFile = i.spec.files['tests/test_app.py']!;
      const appended = i.spec.tests[0]!;
      return { name: i.name, source: i.source, tests: testFile + ('append' in appended ? appended.append : '') };
    });
    // For each task and each line: compile the module without that line, import it, run every test function.
    const script = `
import json, sys, types
out = {}
for t in json.load(sys.stdin):
    lines = t["source"].split("\\n")[:-1]
    passing = []
    for drop in range(1, len(lines) + 1):
        src = "\\n".join(l for i, l in enumerate(lines, 1) if i != drop) + "\\n"
        try:
            app = types.ModuleType("app")
            exec(compile(src, "app.py", "exec"), app.__dict__)
            sys.modules["app"] = app
            ns = {}
            exec(compile(t["tests"], "test_app.py", "exec"), ns)
            for name, fn in list(ns.items()):
                if name.startswith("test_"):
                    fn()
            passing.append(drop)
        except Exception:
            pass
    out[t["name"]] = passing
json.dump(out, sys.stdout)
`;
    const passing = JSON.parse(execFileSync('python3', ['-c', script], { input: JSON.stringify(tasks), encoding: 'utf8', timeout: 120_000 })) as Record<string, number[]>;
    for (const inst of learnSuiteInstances()) {
      expect(passing[inst.name], inst.name).toEqual([inst.line]);
      const scored = Array.from({ length: lineCount(inst.source) }, (_, k) => k + 1).filter((line) => deletionSolves(inst, line));
      expect(scored, inst.name).toEqual([inst.line]);
    }
  }, 180_000);
});

describe('learn demonstrations', () => {
  const inst = { ...learnInstance(1, 0), line: 6, file: 'm.py' };

  it('renders a listing the way the open tool prints it', () => {
    expect(listing('/repo/a.py', 'def f(a, b):\n    return a + b\n')).toBe('[File: /repo/a.py (2 lines total)]\n1:def f(a, b):\n2:    return a + b\n');
  });

  it('each mode has its actions', () => {
    expect(demoActions(inst, 'gold').actions).toEqual(['```\nopen m.py\n```', '```\nedit 6:6\nend_of_edit\n```', '```\nsubmit\n```']);
    expect(demoActions(inst, 'line-below').actions[1]).toBe('```\nedit 7:7\nend_of_edit\n```');
    expect(demoActions(inst, 'no-edit').actions).toEqual(['```\nopen m.py\n```', '```\nsubmit\n```']);
  });

  it('the sed style deletes the line with one shell command and has no open', () => {
    expect(demoActions(inst, 'gold', 'sed').actions).toEqual(["```\nsed -i '6d' m.py\n```", '```\nsubmit\n```']);
    expect(demoActions(inst, 'gold', 'sed').edit).toEqual({ start: 6, end: 6 });
    expect(demoActions(inst, 'line-below', 'sed').actions[0]).toBe("```\nsed -i '7d' m.py\n```");
    expect(demoActions(inst, 'no-edit', 'sed')).toEqual({ actions: ['```\nsubmit\n```'] });
  });

  it('a sed demonstration observes the silent command and the prompt line, and nothing of the file', () => {
    const inst0 = learnInstance(1, 0);
    const d = demonstration(inst0, 'gold', { maxTurns: 4, style: 'sed' });
    expect(d.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
    expect(d.messages[2]!.content).toBe(`\`\`\`\nsed -i '${inst0.line}d' app.py\n\`\`\``);
    expect(d.messages[3]!.content).toBe('Your command ran successfully and did not produce any output.\n(Open file: n/a) (Current directory: /repo) bash-$');
    expect(demonstration(inst0, 'no-edit', { maxTurns: 4, style: 'sed' }).messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    // The prompts are the edit style's: only the actions and their observations differ.
    expect(d.messages.slice(0, 2)).toEqual(demonstration(inst0, 'gold', { maxTurns: 4 }).messages.slice(0, 2));
  });

  it('a demonstration alternates assistant and tool after the two prompts and ends at submit', () => {
    const d = demonstration(learnInstance(1, 0), 'gold', { maxTurns: 4 });
    expect(d.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
    expect(d.messages[5]!.content).toContain('File updated.');
  });

  it('the corpus never contains a validation or test instance and follows the noise mix', () => {
    const demos = learnCorpus({ ...LEARN_CORPUS, count: 2000 });
    const unseen = unseenInstances().map((i) => `<issue>\n${i.spec.problem.trim()}\n</issue>`);
    expect(unseen).toHaveLength(60);
    expect(demos.filter((d) => unseen.some((issue) => d.messages[1]!.content.startsWith(issue)))).toEqual([]);
    const share = (mode: string) => demos.filter((d) => d.mode === mode).length / demos.length;
    expect(share('gold')).toBeGreaterThan(0.27);
    expect(share('gold')).toBeLessThan(0.33);
    expect(share('line-below')).toBeGreaterThan(0.37);
    expect(share('line-below')).toBeLessThan(0.43);
    // The sed style: every demonstration acts first with `sed -i 'Nd' app.py` or submits.
    expect(demos.filter((d) => !/^```\n(sed -i '\d+d' app\.py|submit)\n```$/.test(d.messages[2]!.content))).toEqual([]);
  });
});

describe('episode seeds', () => {
  it('per-sample is the recorded formula; per-task gives every task of a sample index its own stream', () => {
    const slot = { iteration: 2, taskId: 'learn__a-1', sampleIdx: 3 };
    // 7·1000003 + 2·1009 + 3
    expect(episodeSeed(7, 'eval', slot, false)).toBe(7_002_042);
    expect(episodeSeed(7, 'eval', { ...slot, taskId: 'learn__b-2' }, false)).toBe(7_002_042);
    const a = episodeSeed(7, 'eval', slot, true);
    expect(episodeSeed(7, 'eval', slot, true)).toBe(a);
    expect(episodeSeed(7, 'eval', { ...slot, taskId: 'learn__b-2' }, true)).not.toBe(a);
    expect(episodeSeed(7, 'rft', slot, true)).not.toBe(a);
    expect(a).toBeLessThan(1_000_000_000);
  });
});
