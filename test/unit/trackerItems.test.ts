import { describe, expect, it } from 'vitest';
import { trackerItems, type EvalRow, type IterationRow, type SampledEpisode } from '../../cli/track';

const t0 = new Date('2026-11-30T00:00:00Z');
const t1 = new Date('2026-11-30T00:01:40Z');

describe('trackerItems', () => {
  it('one scalar per numeric metric, tagged by stage, stepped by iteration, in stage order', () => {
    const its: IterationRow[] = [
      { stage: 'rl-stage1', stageIdx: 1, idx: 1, metrics: { rewardMean: 0.5, meanTurns: 7, submitRate: null, note: 'x' }, finishedAt: t1 },
      { stage: 'rft', stageIdx: 0, idx: 0, metrics: { rewardMean: 0.25 }, finishedAt: t0 },
      { stage: 'rl-stage1', stageIdx: 1, idx: 0, metrics: null, finishedAt: null },
    ];
    const items = trackerItems(its, [], []);
    expect(items.map((i) => i.key)).toEqual(['iteration:rft:0', 'iteration:rl-stage1:1']);
    expect(items[0]!.records).toEqual([{ kind: 'scalar', tag: 'rft/rewardMean', value: 0.25, step: 0, wall_time: 1795996800 }]);
    // null and string metrics are not scalars
    expect(items[1]!.records).toEqual([
      { kind: 'scalar', tag: 'rl-stage1/rewardMean', value: 0.5, step: 1, wall_time: 1795996900 },
      { kind: 'scalar', tag: 'rl-stage1/meanTurns', value: 7, step: 1, wall_time: 1795996900 },
    ]);
  });

  it('evals ranked by time: Pass@1, its SEM and Pass@k under eval/<split>', () => {
    const evs: EvalRow[] = [
      { id: 'b', stage: 'eval-after-rl', split: 'test', k: 10, pass1Mean: 0.3, pass1Sem: 0.05, passK: 0.6, createdAt: t1 },
      { id: 'a', stage: 'eval-base', split: 'test', k: 10, pass1Mean: 0.1, pass1Sem: 0.02, passK: 0.4, createdAt: t0 },
    ];
    const items = trackerItems([], evs, []);
    expect(items.map((i) => i.key)).toEqual(['eval:a', 'eval:b']);
    expect(items[1]!.records.map((r) => [r.tag, r.step, r.kind === 'scalar' ? r.value : NaN])).toEqual([
      ['eval/test/pass1_mean', 1, 0.3],
      ['eval/test/pass1_sem', 1, 0.05],
      ['eval/test/pass_at_10', 1, 0.6],
    ]);
  });

  it('sampled trajectories become one markdown text per iteration, long turns cut at 2,000 chars', () => {
    const its: IterationRow[] = [{ stage: 'rft', stageIdx: 0, idx: 0, metrics: { rewardMean: 1 }, finishedAt: t0 }];
    const samples: SampledEpisode[] = [
      { stage: 'rft', iteration: 0, id: 'ep1', taskId: 'toy__a', reward: 1, exitReason: 'submitted', turns: [{ role: 'assistant', text: 'a'.repeat(2_500) }] },
      { stage: 'rft', iteration: 0, id: 'ep2', taskId: 'toy__b', reward: 0, exitReason: 'max_turns', turns: [{ role: 'tool', text: 'line1\nline2' }] },
      { stage: 'rft', iteration: 1, id: 'ep3', taskId: 'toy__c', reward: 0, exitReason: 'max_turns', turns: [] },
    ];
    const [item] = trackerItems(its, [], samples);
    const text = item!.records.find((r) => r.kind === 'text');
    expect(text).toMatchObject({ tag: 'trajectories/rft', step: 0 });
    const body = text!.kind === 'text' ? text!.text : '';
    expect(body).toContain('**ep1** — task `toy__a`, reward 1, exit submitted');
    expect(body).toContain(`${'a'.repeat(2_000)}… (2500 chars)`);
    expect(body).toContain('    line1\n    line2');
    expect(body).not.toContain('ep3');
  });
});
