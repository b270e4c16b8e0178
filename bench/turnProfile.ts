/**
 * Where a durable turn's time goes, counted in this process (the bench runs the workers in it):
 * every Postgres statement (pg's Client.query, by its leading words) with its time, every Docker
 * Engine API request (docker-modem's dial, by method and path shape), and a CPU timeline of the
 * processes a turn goes through, so CPU can be read over the window where turns were committed
 * (sandbox start and reward excluded). Bench-only: it patches two library prototypes while a
 * profile is open and restores them when it closes.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { CPU_KEYS, cpuDelta, type CpuSample } from './cpu';

export interface CountAndMs {
  n: number;
  ms: number;
}

export interface ProfileCounts {
  /** Statements by their leading words (`insert into "turns"`, `begin`, `select … from "turns"`). */
  pg: Record<string, CountAndMs>;
  /** Docker API requests by `METHOD /path-shape` (ids replaced by `:id`). */
  docker: Record<string, CountAndMs>;
}

type QueryFn = (...args: unknown[]) => unknown;
interface ModemProto {
  dial: (options: { method?: string; path?: string }, callback: (...a: unknown[]) => void) => unknown;
}

function modemPrototype(): ModemProto {
  // dockerode's own copy of docker-modem (the one its Docker instances use).
  const req = createRequire(require.resolve('dockerode'));
  return (req('docker-modem') as { prototype: ModemProto }).prototype;
}

function statementKey(text: string): string {
  const sql = text.replace(/\s+/g, ' ').trim().toLowerCase();
  const m =
    /^(insert into "?\w+"?)/.exec(sql) ??
    /^(update "?\w+"?)/.exec(sql) ??
    /^(delete from "?\w+"?)/.exec(sql) ??
    /^(with .*?) as/.exec(sql) ??
    /^select .*? from "?(\w+)"?/.exec(sql);
  if (m) return sql.startsWith('select') ? `select from ${m[1]}` : m[1]!;
  return sql.split(' ').slice(0, 2).join(' ');
}

function dockerKey(options: { method?: string; path?: string }): string {
  const p = (options.path ?? '').split('?')[0]!.replace(/[0-9a-f]{12,64}/g, ':id').replace(/swerl-[\w-]+/g, ':name');
  return `${options.method ?? 'GET'} ${p}`;
}

export interface ProfileEvent {
  /** Epoch ms when the call completed. */
  t: number;
  kind: 'pg' | 'docker';
  key: string;
  ms: number;
}

/** Starts recording every statement and Docker request; `stop()` restores the libraries. */
export function openProfile(): { events: ProfileEvent[]; stop(): void } {
  const events: ProfileEvent[] = [];
  const clientProto = pg.Client.prototype as unknown as { query: QueryFn };
  const origQuery = clientProto.query;
  clientProto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const key = statementKey(typeof first === 'string' ? first : (first?.text ?? ''));
    const t0 = performance.now();
    const done = () => events.push({ t: Date.now(), kind: 'pg', key, ms: performance.now() - t0 });
    // pg-pool's Pool.query calls it with a callback; drizzle's transactions with a promise.
    const cb = args.at(-1);
    if (typeof cb === 'function') {
      args[args.length - 1] = (...r: unknown[]) => {
        done();
        return (cb as (...x: unknown[]) => unknown)(...r);
      };
      return origQuery.apply(this, args);
    }
    const out = origQuery.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === 'function') (out as Promise<unknown>).then(done, done);
    return out;
  };
  const modem = modemPrototype();
  const origDial = modem.dial;
  modem.dial = function (this: unknown, options, callback) {
    const key = dockerKey(options);
    const t0 = performance.now();
    return origDial.call(this, options, (...a: unknown[]) => {
      events.push({ t: Date.now(), kind: 'docker', key, ms: performance.now() - t0 });
      callback(...a);
    });
  };
  return {
    events,
    stop() {
      clientProto.query = origQuery;
      modem.dial = origDial;
    },
  };
}

/** The calls completed in [t0, t1] (epoch ms), by kind and key. */
export function countsIn(events: readonly ProfileEvent[], t0: number, t1: number): ProfileCounts {
  const out: ProfileCounts = { pg: {}, docker: {} };
  for (const e of events) {
    if (e.t < t0 || e.t > t1) continue;
    const entry = (out[e.kind][e.key] ??= { n: 0, ms: 0 });
    entry.n += 1;
    entry.ms += e.ms;
  }
  return out;
}

/**
 * CPU samples every `everyMs`, so CPU can be read over any window afterwards (linear between
 * samples). The sampler's own CPU (it reads /proc and cgroups) is measured and subtracted from `worker`.
 */
export function cpuTimeline(sample: () => CpuSample, everyMs = 500): { between(t0: number, t1: number): CpuSample; stop(): void } {
  const points: { t: number; cpu: CpuSample }[] = [];
  let selfCpu = 0;
  const take = () => {
    const u0 = process.cpuUsage();
    const cpu = sample();
    const u = process.cpuUsage(u0);
    selfCpu += (u.user + u.system) / 1e6;
    points.push({ t: Date.now(), cpu: { ...cpu, worker: cpu.worker - selfCpu } });
  };
  take();
  const timer = setInterval(take, everyMs);
  const at = (t: number): CpuSample => {
    const i = points.findIndex((p) => p.t >= t);
    if (i <= 0) return points[i === 0 ? 0 : points.length - 1]!.cpu;
    const a = points[i - 1]!;
    const b = points[i]!;
    const f = (t - a.t) / Math.max(1, b.t - a.t);
    return Object.fromEntries(CPU_KEYS.map((k) => [k, a.cpu[k] + f * (b.cpu[k] - a.cpu[k])])) as CpuSample;
  };
  return {
    between(t0, t1) {
      take();
      return cpuDelta(at(t0), at(t1));
    },
    stop: () => clearInterval(timer),
  };
}
