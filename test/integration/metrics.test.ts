/**
 * `/metrics` of a rollout + orchestration worker while episodes run: the counters and histograms
 * move by exactly what Postgres says happened (turns, attempts, rewards), and an injected policy
 * failure shows up as a failed attempt with its code and as a retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createScriptBook, goldScript } from '../../activities/policy/scripts';
import { episodes, turns } from '../../db/schema';
import { startMetricsServer, type MetricsServer } from '../../workers/metrics';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

let h: RolloutHarness;
let metrics: MetricsServer;

/** Every sample of the exposition as `name{labels}` → value (labels as printed, sorted by prom-client). */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(metrics.url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** Sum of every sample of `name` whose labels include all of `labels`. */
function total(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    const printed = brace < 0 ? '' : key.slice(brace);
    if (Object.entries(labels).every(([k, v]) => printed.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

beforeAll(async () => {
  h = await rolloutHarness('metrics', (tasks) => createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: goldScript(t) }))), {
    behaviour: { failFirstN: 2 },
  });
  await h.startWorker();
  await h.startRollout();
  metrics = await startMetricsServer(0);
});
afterAll(async () => {
  await metrics?.close();
  await h?.close();
});

describe('worker metrics', () => {
  it('serves only GET /metrics, on loopback', async () => {
    expect(metrics.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(metrics.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(metrics.url, { method: 'POST' })).status).toBe(404);
  });

  it('turn-phase histograms, attempts, failures and reward counters move by what the episode did', async () => {
    const before = await scrape();
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId);
    const result = await (await h.startEpisode(input)).result();
    expect(result).toMatchObject({ reward: 1, exitReason: 'submitted', rewardReason: 'resolved' });
    const after = await scrape();
    const delta = (name: string, labels?: Record<string, string>) => total(after, name, labels) - total(before, name, labels);

    const rows = await h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId));
    const assistantTurns = rows.filter((r) => r.role === 'assistant').length;
    const toolTurns = rows.filter((r) => r.role === 'tool').length;
    expect(assistantTurns).toBe(result.turns);
    // One observation per completed phase: a sampled turn, an executed action, one grading.
    expect(delta('swerl_turn_phase_seconds_count', { phase: 'policy' })).toBe(assistantTurns);
    expect(delta('swerl_turn_phase_seconds_count', { phase: 'tool' })).toBe(toolTurns);
    expect(delta('swerl_turn_phase_seconds_count', { phase: 'reward' })).toBe(1);
    // Histogram buckets are cumulative: the +Inf bucket holds every observation.
    expect(delta('swerl_turn_phase_seconds_bucket', { phase: 'tool', le: '+Inf' })).toBe(toolTurns);
    expect(delta('swerl_turn_phase_seconds_sum', { phase: 'tool' })).toBeGreaterThan(0);

    expect(delta('swerl_episode_events_total', { event: 'started' })).toBe(1);
    expect(delta('swerl_episode_events_total', { event: 'scored', reason: 'resolved' })).toBe(1);
    expect(delta('swerl_reward_events_total', { reward: '1', reason: 'resolved' })).toBe(1);
    expect(delta('swerl_reward_events_total', { reward: '0' })).toBe(0);

    // The two injected 503s: each failed attempt is counted with its code, and each was retried.
    const [episode] = await h.db.db.select().from(episodes).where(eq(episodes.id, input.episodeId));
    const failed = delta('swerl_activity_duration_seconds_count', { outcome: 'failed' });
    expect(failed).toBe(delta('swerl_activity_failures_total'));
    expect(delta('swerl_activity_attempts_total', { retry: 'true' })).toBe(failed);
    expect(failed).toBe(episode?.infraFailures ?? -1);
    expect(h.policy.stats().failuresInjected).toBe(2);
    expect(delta('swerl_activity_failures_total', { code: 'uncoded' })).toBe(0);
    // Every attempt ends in exactly one duration observation.
    expect(delta('swerl_activity_duration_seconds_count')).toBe(delta('swerl_activity_attempts_total'));

    // The episode released its sandbox: nothing leased on this host any more.
    expect(total(after, 'swerl_sandboxes', { state: 'leased' })).toBe(0);
    expect(after.has('swerl_process_cpu_seconds_total')).toBe(true);
  });
});
