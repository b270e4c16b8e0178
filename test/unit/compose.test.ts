/**
 * docker-compose.yml by structure (every service the scale-out needs, wired to the right endpoints,
 * with health checks, persistent volumes and dependency ordering) and its hardening. That it really
 * runs is `npm run test:cluster` (test/cluster/cluster.test.ts): too heavy for the default suite.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

interface Service {
  image?: string;
  entrypoint?: string[];
  profiles?: string[];
  restart?: string;
  user?: string;
  ports?: string[];
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas: number | string };
}

const root = path.join(__dirname, '..', '..');
const composeText = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const s = compose.services;

describe('docker-compose.yml', () => {
  it('has the scale-out services', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['docker-proxy', 'orchestration-worker', 'rollout-worker', 'scripted-policy', 'swerl-postgres', 'temporal', 'temporal-namespace', 'temporal-postgres', 'temporal-schema', 'trainer'].sort(),
    );
    expect(s['scripted-policy']?.profiles).toEqual(['smoke']);
  });

  it('gives every long-running service a health check; the one-shot setup services run once', () => {
    for (const [name, svc] of Object.entries(s)) {
      if (name === 'temporal-schema' || name === 'temporal-namespace') expect(svc.restart, name).toBe('no');
      else expect(svc.healthcheck?.test, name).toBeDefined();
    }
  });

  it('uses images built here (swerl cluster build), overridable for a registry', () => {
    for (const [name, svc] of Object.entries(s)) {
      expect(svc.build, name).toBeUndefined();
      expect(svc.image, name).toMatch(/^\$\{SWERL_[A-Z_]+_IMAGE:-swerl-cluster-[a-z-]+:local\}$/);
    }
  });

  it("sets Temporal's schema with its own SQL tool before the server starts, and the namespace after", () => {
    expect(s['temporal-schema']?.entrypoint).toEqual(['/usr/local/bin/swerl-temporal-setup-schema']);
    expect(readFileSync(path.join(root, 'deploy/temporal/setup-schema.sh'), 'utf8')).toMatch(/temporal-sql-tool .*--plugin postgres12/);
    expect(s.temporal?.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
    expect(s['temporal-namespace']?.depends_on?.temporal?.condition).toBe('service_healthy');
    for (const name of ['orchestration-worker', 'rollout-worker', 'trainer']) {
      expect(s[name]?.depends_on?.['temporal-namespace']?.condition, name).toBe('service_completed_successfully');
    }
  });

  it('persists Temporal and swerl state in named volumes', () => {
    expect(s['temporal-postgres']?.volumes).toContain('temporal-pgdata:/var/lib/postgresql/data');
    expect(s['swerl-postgres']?.volumes).toContain('swerl-pgdata:/var/lib/postgresql/data');
    expect(s.trainer?.volumes?.some((v) => v.startsWith('swerl-checkpoints:'))).toBe(true);
    for (const v of ['temporal-pgdata', 'swerl-pgdata', 'swerl-checkpoints']) expect(compose.volumes).toHaveProperty(v);
  });

  it('keeps Temporal on its own Postgres, separate from swerl data', () => {
    expect(s.temporal?.environment?.POSTGRES_SEEDS).toBe('temporal-postgres');
    expect(s['temporal-schema']?.depends_on?.['temporal-postgres']?.condition).toBe('service_healthy');
  });

  it('points every swerl worker at Temporal and swerl-postgres, started after they are healthy', () => {
    for (const name of ['orchestration-worker', 'rollout-worker', 'trainer']) {
      const env = s[name]?.environment ?? {};
      expect(env.SWERL_TEMPORAL_ADDRESS, name).toBe('temporal:7233');
      expect(env.SWERL_DATABASE_URL, name).toMatch(/@swerl-postgres:5432\/swerl$/);
      expect(s[name]?.depends_on?.temporal?.condition, name).toBe('service_healthy');
      expect(s[name]?.depends_on?.['swerl-postgres']?.condition, name).toBe('service_healthy');
    }
  });

  it('runs N rollout workers as sandbox hosts through the Docker socket proxy', () => {
    const rollout = s['rollout-worker']!;
    expect(String(rollout.deploy?.replicas)).toMatch(/SWERL_ROLLOUT_WORKERS|\d+/);
    expect(rollout.environment?.DOCKER_HOST).toBe('tcp://docker-proxy:2375');
    expect(rollout.depends_on?.['docker-proxy']?.condition).toBe('service_healthy');
    expect(rollout.command).toEqual(expect.arrayContaining(['worker', '--role', 'rollout']));
    // Its sandboxes carry the deployment's scope: its reapers leave other deployments' sandboxes alone.
    expect(rollout.environment?.SWERL_SANDBOX_SCOPE).toMatch(/SWERL_SANDBOX_SCOPE/);
  });


  it('runs the trainer as a Temporal Python worker on task queue "trainer"', () => {
    expect(s.trainer?.command).toEqual(expect.arrayContaining(['-m', 'swerl_trainer.worker', '--task-queue', 'trainer']));
  });
});

/** Every `${VAR…}` reference in the file, with its operator (`:-` default, `:?` required, none). */
function variableRefs(text: string): Array<{ name: string; op: string }> {
  return [...text.matchAll(/\$\{([A-Z0-9_]+)(:?[-?])?[^}]*\}/g)].map((m) => ({ name: m[1]!, op: m[2] ?? '' }));
}

describe('docker-compose.yml hardening', () => {
  it('requires every password and never defaults one', () => {
    const secrets = variableRefs(composeText).filter((r) => /PASSWORD|PWD|SECRET|TOKEN/.test(r.name));
    expect(secrets.map((r) => r.name).sort()).toEqual(expect.arrayContaining(['SWERL_DB_PASSWORD', 'TEMPORAL_DB_PASSWORD']));
    for (const ref of secrets) expect(ref.op, ref.name).toBe(':?');
    for (const [name, svc] of Object.entries(s)) {
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        if (/PASSWORD|PWD/.test(key)) expect(String(value), `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?/);
      }
    }
  });

  it('publishes no port beyond loopback', () => {
    const published = Object.entries(s).flatMap(([name, svc]) => (svc.ports ?? []).map((p) => ({ name, p: String(p) })));
    expect(published.length).toBeGreaterThan(0);
    for (const { name, p } of published) expect(p, name).toMatch(/^127\.0\.0\.1:(\d+|\$\{SWERL_CLUSTER_[A-Z_]+_PORT:-\d+\}):\d+$/);
  });

  it("runs swerl's own services as a non-root user, and their images default to one", () => {
    for (const name of ['orchestration-worker', 'rollout-worker', 'trainer', 'scripted-policy']) {
      const user = s[name]?.user ?? '';
      expect(user, name).toMatch(/^\d+(:\d+)?$/);
      expect(Number(user.split(':')[0]), name).toBeGreaterThan(0);
    }
    for (const file of ['Dockerfile', 'trainer/Dockerfile', 'deploy/app.Dockerfile', 'deploy/trainer.Dockerfile', 'deploy/temporal.Dockerfile']) {
      const users = [...readFileSync(path.join(root, file), 'utf8').matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
      expect(users.at(-1), file).toBeDefined();
      expect(users.at(-1), file).not.toMatch(/^(root|0)(:|$)/);
    }
  });

  it('mounts the Docker socket only into the proxy, read-only, and the proxy refuses what swerl never uses', () => {
    for (const [name, svc] of Object.entries(s)) {
      const sockets = (svc.volumes ?? []).filter((v) => v.includes('docker.sock'));
      if (name === 'docker-proxy') expect(sockets).toEqual(['/var/run/docker.sock:/var/run/docker.sock:ro']);
      else expect(sockets, name).toEqual([]);
    }
    // What the proxy allows and refuses is in its Go source; test/integration/socketProxy.test.ts asserts the answers on the real daemon.
    const proxy = readFileSync(path.join(root, 'deploy/docker-proxy/main.go'), 'utf8');
    expect(proxy).toContain('is not an API call a sandbox host makes'); // the last answer: everything not allowed
    for (const refused of ['Privileged', 'Binds', 'Mounts', 'Devices', 'CapAdd', 'PidMode', 'SecurityOpt', 'MaskedPaths', 'Runtime', 'Sysctls', 'CgroupParent']) expect(proxy, refused).toContain(refused);
  });
});
