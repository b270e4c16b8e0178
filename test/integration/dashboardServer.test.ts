/**
 * The dashboard's HTTP surface without a browser: what it serves, and how its actions are guarded
 * (loopback by default, JSON only, same origin, the token when one is set, read-only on a public
 * address without one). Actions reach the CLI's own functions: an unknown run is the CLI's
 * SWERL_RUN_NOT_FOUND, a pause is the run's own pausedBy.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard, type DashboardOptions } from '../../dashboard/server';
import { statusQuery } from '../../workflows/definitions';
import { loopConfig, loopWorld, waitFor, type LoopWorld } from './trainingLoopSetup';
import { testEndpoints } from '../harness/stack';

let w: LoopWorld;
const open: Dashboard[] = [];

beforeAll(async () => {
  w = await loopWorld('dashsrv');
  await w.startWorker();
});
afterAll(async () => {
  for (const d of open) await d.close();
  await w?.close();
});

async function dashboard(opts: Partial<DashboardOptions> = {}): Promise<Dashboard> {
  const d = await startDashboard({ db: w.db.db, client: w.client, port: 0, namespace: testEndpoints().temporalNamespace, operator: 'tester', ...opts });
  open.push(d);
  return d;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** A raw request (no URL normalisation, any header), to the dashboard's own port on loopback. */
function request(d: Dashboard, method: string, path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const port = Number(new URL(d.url).port);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = { 'content-type': 'application/json' };

describe('swerl dashboard server', () => {
  it('listens on loopback by default and serves only its page, uPlot and the JSON API', async () => {
    const d = await dashboard();
    expect(new URL(d.url).hostname).toBe('127.0.0.1');
    const page = await request(d, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('/assets/uplot.js');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await request(d, 'GET', '/assets/uplot.js')).body).toContain('uPlot');
    for (const path of ['/assets/%2e%2e/%2e%2e/package.json', '/assets/../package.json', '/node_modules/uplot/package.json', '/etc/passwd', '/api/files?path=/etc/passwd']) {
      expect((await request(d, 'GET', path)).status, path).toBe(404);
    }
    expect((await request(d, 'GET', '/api/runs')).json()).toEqual([]);
    expect((await request(d, 'GET', '/api/config')).json()).toMatchObject({ readOnly: false, tokenRequired: false, operator: 'tester' });
    expect((await request(d, 'GET', '/api/episodes?iteration=-1')).status).toBe(400);
  });

  it('guards actions: JSON only, same origin, a well-formed body; then the CLI function answers', async () => {
    const d = await dashboard();
    const body = JSON.stringify({ reason: 'test' });
    const form = await request(d, 'POST', '/api/runs/nope/pause', { body: 'reason=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const text = await request(d, 'POST', '/api/runs/nope/pause', { body, headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    const cross = await request(d, 'POST', '/api/runs/nope/pause', { body, headers: { ...json, origin: 'http://evil.example' } });
    expect([cross.status, cross.json().error?.code]).toEqual([403, 'SWERL_DASHBOARD_FORBIDDEN']);
    const bad = await request(d, 'POST', '/api/runs/nope/promote', { body: JSON.stringify({ reason: 'x', force: 'yes' }), headers: json });
    expect([bad.status, bad.json().error?.code]).toEqual([400, 'SWERL_DASHBOARD_BAD_REQUEST']);
    const extra = await request(d, 'POST', '/api/runs/nope/pause', { body: JSON.stringify({ reason: 'x', command: 'rm -rf /' }), headers: json });
    expect(extra.status).toBe(400);
    const unknown = await request(d, 'POST', '/api/runs/nope/pause', { body, headers: { ...json, origin: d.url } });
    expect([unknown.status, unknown.json().error?.code]).toEqual([404, 'SWERL_RUN_NOT_FOUND']);
    const promote = await request(d, 'POST', '/api/runs/nope/promote', { body, headers: json });
    expect([promote.status, promote.json().error?.code]).toEqual([404, 'SWERL_RUN_NOT_FOUND']);
    for (const path of ['/api/runs/nope/eval', '/api/episodes/nope/rescore', '/api/episodes/nope/fork']) {
      const crossSite = await request(d, 'POST', path, { body: JSON.stringify({ reason: 'x', atTurn: 0, policyVersion: 'v', checkpointId: 'c' }), headers: { ...json, origin: 'http://evil.example' } });
      expect([crossSite.status, crossSite.json().error?.code], path).toEqual([403, 'SWERL_DASHBOARD_FORBIDDEN']);
    }
    // A fork takes a turn and a checkpoint, nothing that names a command, a file or an endpoint.
    const shelly = await request(d, 'POST', '/api/episodes/nope/fork', { body: JSON.stringify({ atTurn: 0, policyVersion: 'v', command: 'sh' }), headers: json });
    expect([shelly.status, shelly.json().error?.code]).toEqual([400, 'SWERL_DASHBOARD_BAD_REQUEST']);
  });

  it('needs the token for actions when one is set', async () => {
    const d = await dashboard({ token: 's3cret' });
    const body = JSON.stringify({ reason: 'test' });
    expect((await request(d, 'GET', '/api/runs')).status).toBe(200);
    expect((await request(d, 'GET', '/api/config')).json()).toMatchObject({ tokenRequired: true, readOnly: false });
    const none = await request(d, 'POST', '/api/runs/nope/abort', { body, headers: json });
    expect([none.status, none.json().error?.code]).toEqual([401, 'SWERL_DASHBOARD_FORBIDDEN']);
    const wrong = await request(d, 'POST', '/api/runs/nope/abort', { body, headers: { ...json, 'x-swerl-token': 's3cres' } });
    expect(wrong.status).toBe(401);
    const right = await request(d, 'POST', '/api/runs/nope/abort', { body, headers: { ...json, 'x-swerl-token': 's3cret' } });
    expect([right.status, right.json().error?.code]).toEqual([404, 'SWERL_RUN_NOT_FOUND']);
  });

  it('bound to every address: read-only without a token, guarded by it with one', async () => {
    const body = JSON.stringify({ reason: 'test' });
    const open0 = await dashboard({ host: '0.0.0.0' });
    expect((await request(open0, 'GET', '/api/config')).json()).toMatchObject({ readOnly: true });
    expect((await request(open0, 'GET', '/api/runs')).status).toBe(200);
    const refused = await request(open0, 'POST', '/api/runs/nope/resume', { body, headers: json });
    expect([refused.status, refused.json().error?.code]).toEqual([403, 'SWERL_DASHBOARD_FORBIDDEN']);
    // Every mutation, the episode operations and the eval included, is refused before it is looked at.
    for (const path of ['/api/runs/nope/eval', '/api/episodes/nope/rescore', '/api/episodes/nope/fork']) {
      const r = await request(open0, 'POST', path, { body, headers: json });
      expect([r.status, r.json().error?.code], path).toEqual([403, 'SWERL_DASHBOARD_FORBIDDEN']);
    }

    const guarded = await dashboard({ host: '0.0.0.0', token: 't0ken' });
    expect((await request(guarded, 'POST', '/api/runs/nope/resume', { body, headers: json })).status).toBe(401);
    expect((await request(guarded, 'POST', '/api/runs/nope/resume', { body, headers: { ...json, 'x-swerl-token': 't0ken' } })).status).toBe(404);
  });

  it('pause and resume reach the run as the CLI sends them, with who and why', async () => {
    const d = await dashboard();
    // No rollout worker: the run starts and waits on its first episodes, which is all a signal needs.
    const { runId, handle } = await w.startRun(loopConfig());
    try {
      await waitFor(async () => (await handle.query(statusQuery)).phase === 'running', 60_000, 'run to start');
      const paused = await request(d, 'POST', `/api/runs/${runId}/pause`, { body: JSON.stringify({ who: 'carol', reason: 'inspecting rewards' }), headers: json });
      expect(paused.json()).toEqual({ sent: 'pause', runId, who: 'carol' });
      await waitFor(async () => (await handle.query(statusQuery)).pausedBy?.who === 'carol', 60_000, 'pausedBy');
      expect((await handle.query(statusQuery)).pausedBy).toEqual({ who: 'carol', reason: 'inspecting rewards' });
      const runs = (await request(d, 'GET', '/api/runs')).json() as unknown as Array<{ id: string; pausedBy: unknown; temporalUrl: unknown }>;
      expect(runs.find((r) => r.id === runId)?.pausedBy).toEqual({ who: 'carol', reason: 'inspecting rewards' });
      await request(d, 'POST', `/api/runs/${runId}/resume`, { body: JSON.stringify({ reason: 'done' }), headers: json });
      await waitFor(async () => (await handle.query(statusQuery)).pausedBy === undefined, 60_000, 'resume');
    } finally {
      await handle.terminate('test over').catch(() => {});
    }
  });
});
