import { describe, expect, it } from 'vitest';
import { demoActions, demonstration, listing } from '../../tasks/learn/demos';
import { learnInstance } from '../../tasks/learn/family';
import { heldOutInstances, LEARN_CORPUS, learnCorpus, learnSuiteInstances } from '../../tasks/learn/suite';
import { episodeSeed } from '../../workflows/episodeInput';

describe('learn family', () => {
  it('is deterministic and its line points at the stray statement the gold fix deletes', () => {
    const a = learnInstance(1, 5);
    expect(learnInstance(1, 5)).toEqual(a);
    const lines = a.source.split('\n');
    expect(lines[a.line - 1]).toMatch(/^ {4}(\w+) = \1 [-+*] \d$/);
    const gold = a.spec.gold[0]!;
    expect('content' in gold && gold.content).toBe([...lines.slice(0, a.line - 1), ...lines.slice(a.line)].join('\n'));
    expect(a.spec.problem).toContain(`line ${a.line} of ${a.file}`);
  });

  it('the suite has 60 distinct instances, 20 of them held out', () => {
    const names = learnSuiteInstances().map((i) => i.name);
    expect(new Set(names).size).toBe(60);
    expect(heldOutInstances()).toHaveLength(20);
  });
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

  it('a demonstration alternates assistant and tool after the two prompts and ends at submit', () => {
    const d = demonstration(learnInstance(1, 0), 'gold', { maxTurns: 4 });
    expect(d.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
    expect(d.messages[5]!.content).toContain('File updated.');
  });

  it('the corpus never contains a held-out instance and follows the noise mix', () => {
    const demos = learnCorpus({ ...LEARN_CORPUS, count: 2000 });
    const heldOut = heldOutInstances().map((i) => `<issue>\n${i.spec.problem.trim()}\n</issue>`);
    expect(demos.filter((d) => heldOut.some((issue) => d.messages[1]!.content.startsWith(issue)))).toEqual([]);
    const share = (mode: string) => demos.filter((d) => d.mode === mode).length / demos.length;
    expect(share('gold')).toBeGreaterThan(0.27);
    expect(share('gold')).toBeLessThan(0.33);
    expect(share('line-below')).toBeGreaterThan(0.37);
    expect(share('line-below')).toBeLessThan(0.43);
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
