/**
 * The local dev stack against real processes: idempotent up, status, crash + restart of Temporal
 * (state kept in SQLite), stop + start of Postgres (data kept), and refusal to start on a port that
 * a foreign process holds. Runs against the shared stack from globalSetup and leaves it running.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { passwordFile } from '../../cli/dev/pgPassword';
import { devDown, devUp } from '../../cli/dev/stack';
import { errorCodeOf } from '../../core/errors';
import { freePort } from '../harness/ports';
import { devStatus, killComponent, startComponent, testEndpoints } from '../harness/stack';

async function pidsByName(): Promise<Record<string, number | undefined>> {
  return Object.fromEntries((await devStatus()).map((c) => [c.name, c.pid]));
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function withTemporal<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const ep = testEndpoints();
  const connection = await Connection.connect({ address: ep.temporalAddress });
  try {
    return await fn(new Client({ connection, namespace: ep.temporalNamespace }));
  } finally {
    await connection.close();
  }
}

async function withPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testEndpoints().databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('dev stack', () => {
  afterAll(async () => {
    // Other suites share this stack: whatever a test did, leave it up.
    await devUp();
  });

  it('up is idempotent: a second up reuses the running processes', async () => {
    const first = await devUp();
    const before = await pidsByName();
    const t0 = Date.now();
    const second = await devUp();
    const reuseMs = Date.now() - t0;
    const after = await pidsByName();
    console.log(`[devStack] second devUp took ${reuseMs} ms`);

    expect(second).toEqual(first);
    expect(after.temporal).toBeGreaterThan(0);
    expect(after.postgres).toBeGreaterThan(0);
    expect(after).toEqual(before);
    expect(JSON.parse(fs.readFileSync(path.join(first.stateDir, 'endpoints.json'), 'utf8'))).toEqual(first);
    expect(inject('stackEndpoints')).toEqual(first);
    expect(process.env.SWERL_TEMPORAL_ADDRESS).toBe(first.temporalAddress);
  });

  it('status reports docker, temporal and postgres running with their URLs', async () => {
    const ep = testEndpoints();
    const rows = await devStatus();
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['docker', 'running'],
      ['temporal', 'running'],
      ['postgres', 'running'],
    ]);
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName.docker?.url).toBe(`unix://${ep.dockerSocket}`);
    expect(byName.temporal?.url).toBe(ep.temporalAddress);
    expect(byName.postgres?.url).toBe(ep.databaseUrl);
  });

  it('SIGKILL of Temporal + startComponent keeps workflows in the same SQLite file', async () => {
    const ep = testEndpoints();
    const dbFile = path.join(ep.stateDir, 'temporal', 'temporal.db');
    const workflowId = `devstack-probe-${randomUUID()}`;
    // No worker serves this queue: the workflow stays RUNNING, which is all we need to find it again.
    const runId = await withTemporal(async (client) => {
      const handle = await client.workflow.start('devStackProbe', { taskQueue: `devstack-probe-${randomUUID()}`, workflowId, args: [] });
      expect((await handle.describe()).status.name).toBe('RUNNING');
      return handle.firstExecutionRunId;
    });
    const inodeBefore = fs.statSync(dbFile).ino;
    const pidBefore = (await pidsByName()).temporal;

    await killComponent('temporal', 'SIGKILL');
    expect((await devStatus()).find((c) => c.name === 'temporal')?.state).toBe('stopped');
    const t0 = Date.now();
    await startComponent('temporal');
    console.log(`[devStack] temporal restart after SIGKILL healthy in ${Date.now() - t0} ms`);

    const pidAfter = (await pidsByName()).temporal;
    expect(pidAfter).toBeGreaterThan(0);
    expect(pidAfter).not.toBe(pidBefore);
    expect(fs.statSync(dbFile).ino).toBe(inodeBefore);
    await withTemporal(async (client) => {
      const handle = client.workflow.getHandle(workflowId);
      const desc = await handle.describe();
      expect(desc.runId).toBe(runId);
      expect(desc.status.name).toBe('RUNNING');
      expect(desc.type).toBe('devStackProbe');
      await handle.terminate('devStack test done');
    });
  });

  it('stop + start of Postgres keeps committed data; SIGKILL recovery too', async () => {
    const table = `devstack_probe_${randomUUID().replaceAll('-', '')}`;
    await withPg(async (c) => {
      await c.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v int)`);
      await c.query(`INSERT INTO ${table} VALUES ('a', 1), ('b', 2)`);
    });

    await devDown({ only: ['postgres'] });
    expect((await devStatus()).find((c) => c.name === 'postgres')?.state).toBe('stopped');
    await startComponent('postgres');
    expect(await withPg(async (c) => (await c.query(`SELECT k, v FROM ${table} ORDER BY k`)).rows)).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
    ]);

    // A crash (no shutdown checkpoint) must not lose a committed row either: WAL replay.
    await withPg((c) => c.query(`INSERT INTO ${table} VALUES ('c', 3)`));
    await killComponent('postgres', 'SIGKILL');
    const t0 = Date.now();
    await startComponent('postgres');
    console.log(`[devStack] postgres restart after SIGKILL healthy in ${Date.now() - t0} ms`);
    try {
      expect(await withPg(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0])).toEqual({ n: 3 });
    } finally {
      await withPg((c) => c.query(`DROP TABLE ${table}`));
    }
  });
});

async function withUrl<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** 'ok' when the login succeeds, else the server's SQLSTATE (28P01: wrong password). */
async function loginCode(port: number, password: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'swerl', password, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    return 'ok';
  } catch (err) {
    return String((err as { code?: string }).code ?? (err as Error).message);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('dev stack in a private state dir', () => {
  const dirs: string[] = [];
  async function privateEnv(): Promise<NodeJS.ProcessEnv> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swerl-devstack-'));
    dirs.push(dir);
    return {
      SWERL_HOME: dir,
      SWERL_TEMPORAL_PORT: String(await freePort()),
      SWERL_TEMPORAL_UI_PORT: String(await freePort()),
      SWERL_PG_PORT: String(await freePort()),
      SWERL_STACK_START_TIMEOUT_MS: '30000',
    };
  }
  afterAll(async () => {
    for (const dir of dirs) {
      await devDown({ only: ['temporal', 'postgres'], env: { SWERL_HOME: dir } });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['temporal', 'SWERL_TEMPORAL_PORT', 'frontend gRPC'],
    ['temporal', 'SWERL_TEMPORAL_UI_PORT', 'web UI'],
    ['postgres', 'SWERL_PG_PORT', 'SQL'],
  ] as const)('%s refuses a %s held by a foreign listener with SWERL_STACK_PORT_IN_USE', async (component, portVar, role) => {
    const env = await privateEnv();
    const port = Number(env[portVar]);
    const squatter = await listen(port);
    try {
      const err = await devUp({ only: [component], env }).then(() => undefined, (e: unknown) => e);
      expect(errorCodeOf(err)).toBe('SWERL_STACK_PORT_IN_USE');
      const message = (err as Error).message;
      expect(message).toContain(`${component}: ${role} port ${port}`);
      expect(message).toContain(`pid ${process.pid}`);
      expect((err as { details: Record<string, unknown> }).details).toMatchObject({ component, port, holderPid: process.pid });
      // Nothing was started behind the error, and status says who is in the way.
      const row = (await devStatus({ env })).find((c) => c.name === component);
      expect(row?.state).toBe('stopped');
      expect(row?.detail).toContain(`port ${port} is held by pid ${process.pid}`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('a private Postgres comes up in a fresh 0700 temp dir with database swerl, and down stops it', async () => {
    const env = await privateEnv();
    const t0 = Date.now();
    const ep = await devUp({ only: ['postgres'], env });
    console.log(`[devStack] fresh postgres (initdb + start) healthy in ${Date.now() - t0} ms`);
    // A password on loopback too (issue 18): made here, 0600, carried by the URL and nowhere else.
    const password = fs.readFileSync(passwordFile(env.SWERL_HOME!), 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(fs.statSync(passwordFile(env.SWERL_HOME!)).mode & 0o777).toBe(0o600);
    expect(ep.databaseUrl).toBe(`postgres://postgres:${password}@127.0.0.1:${env.SWERL_PG_PORT}/swerl`);
    expect(fs.statSync(path.join(env.SWERL_HOME!, 'endpoints.json')).mode & 0o777).toBe(0o600);
    expect(await loginCode(Number(env.SWERL_PG_PORT), 'not-the-password')).toBe('28P01');
    const client = new pg.Client({ connectionString: ep.databaseUrl });
    await client.connect();
    try {
      expect((await client.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'swerl' }]);
    } finally {
      await client.end();
    }
    const pid = (await devStatus({ env })).find((c) => c.name === 'postgres')?.pid;
    expect(pid).toBeGreaterThan(0);
    await devDown({ only: ['postgres'], env });
    expect((await devStatus({ env })).find((c) => c.name === 'postgres')?.state).toBe('stopped');
    expect(() => process.kill(pid!, 0)).toThrow();
  });

  it('a Postgres made before passwords (trust) requires the password after its next start', async () => {
    const env = await privateEnv();
    const port = Number(env.SWERL_PG_PORT);
    const ep = await devUp({ only: ['postgres'], env });
    // Turn it into a cluster as older swerl made it: trust on every connection.
    const hba = path.join(env.SWERL_HOME!, 'postgres', 'data', 'pg_hba.conf');
    fs.writeFileSync(hba, 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    await withUrl(ep.databaseUrl, (c) => c.query('SELECT pg_reload_conf()'));
    expect(await loginCode(port, 'not-the-password')).toBe('ok');
    await devDown({ only: ['postgres'], env });
    const again = await devUp({ only: ['postgres'], env });
    expect(again.databaseUrl).toBe(ep.databaseUrl);
    expect(await loginCode(port, 'not-the-password')).toBe('28P01');
    expect(await withUrl(again.databaseUrl, async (c) => (await c.query('SELECT current_database() AS db')).rows)).toEqual([{ db: 'swerl' }]);
    expect(fs.readFileSync(hba, 'utf8')).not.toMatch(/trust/);
  });

  it('a stale pid file is cleaned and reported as stopped', async () => {
    const env = await privateEnv();
    const pidFile = path.join(env.SWERL_HOME!, 'temporal', 'temporal.pid');
    fs.mkdirSync(path.dirname(pidFile), { recursive: true });
    // pid 1 is alive but is not a temporal server: a recycled pid must not count as ours.
    fs.writeFileSync(pidFile, '1\n');
    const row = (await devStatus({ env })).find((c) => c.name === 'temporal');
    expect(row?.state).toBe('stopped');
    expect(row?.pid).toBeUndefined();
    expect(fs.existsSync(pidFile)).toBe(false);
  });

  it('a Temporal that cannot start fails with SWERL_STACK_START_FAILED and its log tail', async () => {
    const env = await privateEnv();
    // A directory where the SQLite file should be: the server exits at start-up.
    fs.mkdirSync(path.join(env.SWERL_HOME!, 'temporal', 'temporal.db'), { recursive: true });
    const err = await devUp({ only: ['temporal'], env }).then(() => undefined, (e: unknown) => e);
    expect(errorCodeOf(err)).toBe('SWERL_STACK_START_FAILED');
    expect((err as Error).message).toMatch(/^SWERL_STACK_START_FAILED: temporal exited during start-up/);
    expect((err as Error).message).toContain('temporal.log');
  });
});
