import { describe, expect, it } from 'vitest';
import { parseGraderReport } from '../../activities/reward/graderReport';

const frame = (f: Record<string, unknown>): string => JSON.stringify(f);
const phase = (nodeid: string, when: string, outcome: string, extra: Record<string, unknown> = {}): string =>
  frame({ event: 'report', nodeid, when, outcome, xfail: false, duration: 0.5, ...extra });

describe('parseGraderReport', () => {
  it('takes the worst phase per test; xfail passes; unlisted and unreported ids', () => {
    const text = [
      frame({ event: 'start' }),
      phase('t.py::a', 'setup', 'passed'), phase('t.py::a', 'call', 'passed'), phase('t.py::a', 'teardown', 'passed'),
      phase('t.py::b', 'setup', 'passed'), phase('t.py::b', 'call', 'passed'), phase('t.py::b', 'teardown', 'failed'),
      phase('t.py::c', 'call', 'failed'),
      phase('t.py::d', 'call', 'skipped', { xfail: true }),
      phase('t.py::e', 'setup', 'skipped'),
      phase('t.py::other', 'call', 'failed'),
      frame({ event: 'finish', exitstatus: 1 }),
    ].join('\n');
    const r = parseGraderReport(text, ['t.py::a', 't.py::b', 't.py::c', 't.py::d', 't.py::e', 't.py::gone']);
    expect(r.started).toBe(true);
    expect(r.exitStatus).toBe(1);
    expect(Object.fromEntries([...r.outcomes].map(([k, v]) => [k, v.outcome]))).toEqual({
      't.py::a': 'passed', 't.py::b': 'error', 't.py::c': 'failed', 't.py::d': 'passed', 't.py::e': 'skipped', 't.py::gone': 'missing',
    });
    expect(r.outcomes.get('t.py::a')!.durationSec).toBe(0.5); // phases that change nothing add nothing
  });

  it('a session that started and never finished has no exit status; noise lines are ignored', () => {
    const r = parseGraderReport(`garbage\u0000\n{not json\n${frame({ event: 'start' })}\n${phase('t.py::a', 'call', 'passed')}\n{"event":"finish"}`, ['t.py::a']);
    expect(r).toMatchObject({ started: true, exitStatus: null });
    expect(r.outcomes.get('t.py::a')!.outcome).toBe('passed');
    expect(parseGraderReport('', ['t.py::a'])).toMatchObject({ started: false, exitStatus: null });
  });
});
