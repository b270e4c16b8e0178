/**
 * Sandbox latencies on this Docker host: container start cold (create + start) versus handed out
 * from the pre-warmed pool, each alone and "ready" (until a first `true` has run in it), and the
 * round trip of one tool exec. Samples run one at a time: the numbers are latencies, not
 * throughput. Prints nothing; bench/main.ts reports. SWERL_BENCH_SANDBOX_IMAGE names another image
 * (one with a large /repo and a venv shows what copying the writable paths into their tmpfs costs).
 */
import Docker from 'dockerode';
import { createSandbox, LeaseManager, type SandboxLimits } from '../activities/sandbox';
import { ensureBaseImage } from '../sandbox/images';
import { percentile, round1 } from './stats';

const round = round1;

export async function benchSandbox(opts: { startSamples?: number; execSamples?: number } = {}): Promise<Record<string, number>> {
  const startSamples = opts.startSamples ?? 10;
  const execSamples = opts.execSamples ?? 30;
  const docker = new Docker();
  const t0 = performance.now();
  const image = process.env.SWERL_BENCH_SANDBOX_IMAGE || (await ensureBaseImage());
  const ensureMs = performance.now() - t0;
  // The paper's pod: 0.5 CPU, 2 GiB.
  const limits: SandboxLimits = { cpus: 0.5, memoryMiB: 2048, pidsLimit: 256, outputLimitBytes: 65536, commandTimeoutSec: 120, user: '1000:1000' };
  const labels = { run: 'bench', episode: 'bench' };

  const cold: number[] = [];
  const coldReady: number[] = [];
  for (let i = 0; i < startSamples; i++) {
    const t = performance.now();
    const sb = await createSandbox(docker, { image, limits, labels, leaseTtlSec: 600 });
    cold.push(performance.now() - t);
    await sb.exec('true');
    coldReady.push(performance.now() - t);
    await sb.destroy();
  }

  const warm: number[] = [];
  const warmReady: number[] = [];
  const mgr = new LeaseManager(docker, { maxConcurrent: 2, prewarm: 1, leaseTtlSec: 600 });
  const exec: number[] = [];
  try {
    for (let i = 0; i < startSamples; i++) {
      await mgr.prewarm({ image, limits });
      const t = performance.now();
      const lease = await mgr.acquire({ image, limits, labels });
      warm.push(performance.now() - t);
      await lease.sandbox.exec('true');
      warmReady.push(performance.now() - t);
      await mgr.release(lease.leaseId);
    }
    const { leaseId, sandbox } = await mgr.acquire({ image, limits, labels });
    for (let i = 0; i < execSamples; i++) {
      const t = performance.now();
      await sandbox.exec('true');
      exec.push(performance.now() - t);
    }
    await mgr.release(leaseId);
  } finally {
    await mgr.close();
  }

  return {
    sandbox_image_cached_ensure_ms: round(ensureMs),
    sandbox_start_cold_p50_ms: round(percentile(cold, 50)),
    sandbox_start_cold_p95_ms: round(percentile(cold, 95)),
    sandbox_start_cold_ready_p50_ms: round(percentile(coldReady, 50)),
    sandbox_start_prewarmed_p50_ms: round(percentile(warm, 50)),
    sandbox_start_prewarmed_p95_ms: round(percentile(warm, 95)),
    sandbox_start_prewarmed_ready_p50_ms: round(percentile(warmReady, 50)),
    sandbox_exec_true_p50_ms: round(percentile(exec, 50)),
    sandbox_exec_true_p95_ms: round(percentile(exec, 95)),
  };
}
