/**
 * docker-compose.yml cannot be brought up here (no image registry), so it is validated by
 * structure: every service the scale-out needs, wired to the right endpoints, with health checks,
 * persistent volumes and dependency ordering on health.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas: number | string };
}

const root = path.join(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const s = compose.services;

describe('docker-compose.yml', () => {
  it('has the scale-out services', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['orchestration-worker', 'rollout-worker', 'swerl-postgres', 'temporal', 'temporal-postgres', 'temporal-ui', 'trainer'].sort(),
    );
  });

  it('gives every service a health check', () => {
    for (const [name, svc] of Object.entries(s)) expect(svc.healthcheck?.test, name).toBeDefined();
  });

  it('persists Temporal and swerl state in named volumes', () => {
    expect(s['temporal-postgres']?.volumes).toContain('temporal-pgdata:/var/lib/postgresql/data');
    expect(s['swerl-postgres']?.volumes).toContain('swerl-pgdata:/var/lib/postgresql/data');
    expect(s.trainer?.volumes?.some((v) => v.startsWith('swerl-checkpoints:'))).toBe(true);
    for (const v of ['temporal-pgdata', 'swerl-pgdata', 'swerl-checkpoints']) expect(compose.volumes).toHaveProperty(v);
  });

  it('keeps Temporal on its own Postgres, separate from swerl data', () => {
    expect(s.temporal?.environment?.POSTGRES_SEEDS).toBe('temporal-postgres');
    expect(s.temporal?.depends_on?.['temporal-postgres']?.condition).toBe('service_healthy');
    expect(s['temporal-ui']?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
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

  it('runs N rollout workers as sandbox hosts on the Docker socket', () => {
    const rollout = s['rollout-worker']!;
    expect(String(rollout.deploy?.replicas)).toMatch(/SWERL_ROLLOUT_WORKERS|\d+/);
    expect(rollout.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(rollout.command).toEqual(expect.arrayContaining(['worker', '--role', 'rollout']));
  });

  it('runs the trainer as a Temporal Python worker on task queue "trainer"', () => {
    expect(s.trainer?.command).toEqual(expect.arrayContaining(['-m', 'swerl_trainer.worker', '--task-queue', 'trainer']));
    expect(s.trainer?.build?.context).toBe('./trainer');
  });

  it('builds swerl images from files that exist', () => {
    for (const svc of Object.values(s)) {
      if (!svc.build) continue;
      expect(readFileSync(path.join(root, svc.build.context, svc.build.dockerfile), 'utf8')).toMatch(/^FROM /m);
    }
  });
});
