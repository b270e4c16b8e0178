/**
 * vitest globalSetup for the integration project: bring the dev stack up (reusing one that is
 * already running) and hand its endpoints to the tests through env and `inject('stackEndpoints')`.
 * Teardown stops only what this run started, never Docker (other users of the machine share it),
 * and nothing at all when SWERL_TEST_KEEP_STACK is set.
 */
import { type TestProject } from 'vitest/node';
import { type ComponentName, devDown, devStatus, devUp } from '../../cli/dev/stack';
import './stack';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const before = await devStatus();
  const t0 = Date.now();
  const endpoints = await devUp();
  const started = before.filter((c) => c.state !== 'running').map((c) => c.name);
  if (started.length > 0) console.log(`[harness] dev stack: started ${started.join(', ')} in ${Date.now() - t0} ms`);

  process.env.SWERL_HOME = endpoints.stateDir;
  process.env.SWERL_TEMPORAL_ADDRESS = endpoints.temporalAddress;
  process.env.SWERL_TEMPORAL_NAMESPACE = endpoints.temporalNamespace;
  process.env.SWERL_DATABASE_URL = endpoints.databaseUrl;
  project.provide('stackEndpoints', endpoints);

  return async () => {
    if (process.env.SWERL_TEST_KEEP_STACK) return;
    const toStop = started.filter((n): n is Exclude<ComponentName, 'docker'> => n !== 'docker');
    if (toStop.length > 0) await devDown({ only: toStop });
  };
}
