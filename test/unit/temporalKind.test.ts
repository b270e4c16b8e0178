/**
 * Which Temporal the dev stack runs (`swerl dev up --temporal dev|server`) and the real server's
 * generated configuration: its ports follow SWERL_TEMPORAL_PORT, everything binds to loopback, and
 * persistence and visibility are the stack's Postgres.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../core/errors';
import { stackSettings, temporalKindFile } from '../../cli/dev/settings';
import { serverConfig } from '../../cli/dev/temporalServer';

const dirs: string[] = [];
function stateDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swerl-kind-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('the dev stack\'s Temporal kind', () => {
  it('is the dev server by default, what dev up recorded otherwise, and the variable wins', () => {
    const home = stateDir();
    expect(stackSettings({ SWERL_HOME: home }).temporalKind).toBe('dev');
    fs.writeFileSync(temporalKindFile(home), 'server\n');
    expect(stackSettings({ SWERL_HOME: home }).temporalKind).toBe('server');
    expect(stackSettings({ SWERL_HOME: home, SWERL_TEMPORAL_KIND: 'dev' }).temporalKind).toBe('dev');
  });

  it('refuses a kind it does not know with SWERL_CONFIG_INVALID', () => {
    expect(() => stackSettings({ SWERL_HOME: stateDir(), SWERL_TEMPORAL_KIND: 'cloud' })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG_INVALID }));
  });
});

describe('the real server\'s configuration', () => {
  it('puts its nine ports at SWERL_TEMPORAL_PORT and above, on loopback, with Postgres persistence and visibility', () => {
    const home = stateDir();
    fs.mkdirSync(path.join(home, 'postgres'), { recursive: true });
    fs.writeFileSync(path.join(home, 'postgres', 'password'), 'pw-for-test\n', { mode: 0o600 });
    const s = stackSettings({ SWERL_HOME: home, SWERL_TEMPORAL_PORT: '7600', SWERL_PG_PORT: '5600', SWERL_TEMPORAL_KIND: 'server' });
    const cfg = serverConfig(s, '/dyn.yaml') as {
      persistence: { datastores: Record<string, { sql: { pluginName: string; databaseName: string; connectAddr: string; password: string } }> };
      services: Record<string, { rpc: { grpcPort: number; membershipPort: number; bindOnIP: string; httpPort?: number } }>;
      global: { membership: { broadcastAddress: string } };
    };
    const ports = Object.values(cfg.services).flatMap((svc) => [svc.rpc.grpcPort, svc.rpc.membershipPort, ...(svc.rpc.httpPort ? [svc.rpc.httpPort] : [])]);
    expect(ports.sort((a, b) => a - b)).toEqual([7600, 7601, 7602, 7603, 7604, 7605, 7606, 7607, 7608]);
    expect(cfg.services.frontend!.rpc.grpcPort).toBe(7600);
    for (const svc of Object.values(cfg.services)) expect(svc.rpc.bindOnIP).toBe('127.0.0.1');
    expect(cfg.global.membership.broadcastAddress).toBe('127.0.0.1');
    const stores = cfg.persistence.datastores;
    expect(Object.values(stores).map((d) => [d.sql.pluginName, d.sql.databaseName, d.sql.connectAddr, d.sql.password])).toEqual([
      ['postgres12', 'temporal', '127.0.0.1:5600', 'pw-for-test'],
      ['postgres12', 'temporal_visibility', '127.0.0.1:5600', 'pw-for-test'],
    ]);
  });
});
