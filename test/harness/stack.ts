/**
 * What integration tests import to reach the shared dev stack that globalSetup brought up.
 */
import { type StackEndpoints, readEndpoints } from '../../cli/dev/stack';
// Loaded for the ProvidedContext augmentation below.
import type {} from 'vitest';

export { devStatus, killComponent, startComponent, type ComponentStatus, type StackEndpoints } from '../../cli/dev/stack';

declare module 'vitest' {
  export interface ProvidedContext {
    stackEndpoints: StackEndpoints;
  }
}

/**
 * Endpoints of the stack under test: from the variables globalSetup exported, else from
 * <SWERL_HOME or .swerl>/endpoints.json written by `swerl dev up`.
 */
export function testEndpoints(): StackEndpoints {
  const env = process.env;
  const fromFile = readEndpoints(env);
  return {
    ...fromFile,
    temporalAddress: env.SWERL_TEMPORAL_ADDRESS || fromFile.temporalAddress,
    temporalNamespace: env.SWERL_TEMPORAL_NAMESPACE || fromFile.temporalNamespace,
    databaseUrl: env.SWERL_DATABASE_URL || fromFile.databaseUrl,
  };
}
