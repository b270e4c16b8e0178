/**
 * OpenTelemetry traces through Temporal's interceptors: an episode run by traced workers arrives at
 * a real OTLP/HTTP endpoint (a receiver in this test) as one trace: RunWorkflow:episode at the root,
 * its activities under it, and inside each runTurns segment a Turn:policy and a Turn:tool span per
 * turn, as many as Postgres has turns.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createScriptBook, goldScript } from '../../activities/policy/scripts';
import { turns } from '../../db/schema';
import { enableTracing, type Tracing } from '../../workers/tracing';
import { rolloutHarness, type RolloutHarness } from '../harness/rollout';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

let h: RolloutHarness;
let receiver: Server;
let tracing: Tracing;
const received: OtlpSpan[] = [];
let posts = 0;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') {
        posts++;
        const doc = JSON.parse(body) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };
        for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) received.push(...(ss.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  tracing = enableTracing(`http://127.0.0.1:${port}/v1/traces`, 'swerl-test');
  h = await rolloutHarness('tracing', (tasks) => createScriptBook(tasks.map((t) => ({ instanceId: t.instanceId, problemStatement: t.problemStatement, script: goldScript(t) }))));
  await h.startWorker();
  await h.startRollout();
});
afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

describe('OpenTelemetry traces', () => {
  it('one episode is one trace: the workflow span, its activities, a span per turn phase', async () => {
    const task = h.tasks[0]!;
    const input = h.episodeInput(task.instanceId);
    const result = await (await h.startEpisode(input)).result();
    expect(result).toMatchObject({ reward: 1, exitReason: 'submitted' });
    await tracing.flush();
    expect(posts).toBeGreaterThan(0);

    const roots = received.filter((s) => s.name === 'RunWorkflow:episode');
    expect(roots).toHaveLength(1);
    const traceId = roots[0]!.traceId;
    const inTrace = received.filter((s) => s.traceId === traceId);
    const rows = await h.db.db.select().from(turns).where(eq(turns.episodeId, input.episodeId));
    const count = (name: string) => inTrace.filter((s) => s.name === name).length;
    expect(count('Turn:policy')).toBe(rows.filter((r) => r.role === 'assistant').length);
    expect(count('Turn:tool')).toBe(rows.filter((r) => r.role === 'tool').length);
    expect(count('RunActivity:runTurns')).toBeGreaterThanOrEqual(1);
    expect(count('RunActivity:scoreEpisode')).toBe(1);
    // Turn spans sit inside a runTurns activity span.
    const segments = new Set(inTrace.filter((s) => s.name === 'RunActivity:runTurns').map((s) => s.spanId));
    expect(inTrace.filter((s) => s.name.startsWith('Turn:')).every((s) => s.parentSpanId !== undefined && segments.has(s.parentSpanId))).toBe(true);
    // Every activity span hangs off a span of this trace (StartActivity in the workflow), none is orphaned.
    const ids = new Set(inTrace.map((s) => s.spanId));
    const activitySpans = inTrace.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activitySpans.length).toBeGreaterThan(2);
    expect(activitySpans.every((s) => s.parentSpanId !== undefined && ids.has(s.parentSpanId))).toBe(true);
  });
});
