/**
 * Telling a reward harness that failed apart from the environment that failed under it.
 *
 * - Infra (SWERL_REWARD_INFRA_FAILED, retried by the episode within timeouts.rewardInfraSec):
 *   Docker does not answer, or the reward container is stopped, killed or gone. A container that
 *   stopped under the harness is infra whatever the harness saw (an exit code, a cut stream, a
 *   test session that never finished): its verdict is not the code's.
 * - A harness crash (SWERL_REWARD_HARNESS_CRASHED, at most REWARD_MAX_ATTEMPTS per episode): the
 *   harness produced no verdict while Docker answered and its container ran.
 * PID 1 of a reward container runs as root, so the code under test cannot stop it.
 */
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError, SwerlError, errorCodeOf } from '../../core/errors';
import { containerGone } from '../sandbox/exec';

/** How long a harness failure waits to see its container stop (a kill's stream can end before the state changes). */
const FAILURE_GONE_WAIT_MS = 3_000;
/** The same wait after a verdict of 0 (a kill mid-run looks like a test session that died). */
const VERDICT_GONE_WAIT_MS = 1_500;
const PING_TIMEOUT_MS = 10_000;

async function dockerAnswers(docker: Docker): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([docker.ping().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function infra(why: string, cause: unknown, details: Record<string, unknown>): SandboxError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError(ErrorCodes.REWARD_INFRA_FAILED, `reward harness: ${why}: ${msg}`, details, { cause });
}

/**
 * What a harness failure was: `crash` (SWERL_REWARD_HARNESS_CRASHED) when Docker answers and the
 * reward container (if one was started) still runs, else SWERL_REWARD_INFRA_FAILED. Other codes
 * pass through unchanged.
 */
export async function classifyHarnessFailure(docker: Docker, containerId: string | undefined, crash: unknown): Promise<unknown> {
  if (!(crash instanceof SwerlError) || crash.code !== ErrorCodes.REWARD_HARNESS_CRASHED) return crash;
  // The container died under an operation (during its start or copy-in, or an exec): infra.
  if (errorCodeOf(crash.cause) === ErrorCodes.SANDBOX_GONE) return infra('its container is gone', crash, { ...crash.details });
  if (!(await dockerAnswers(docker))) return infra('Docker does not answer', crash, { ...crash.details });
  if (containerId !== undefined) {
    const gone = await containerGone(docker.getContainer(containerId), crash, FAILURE_GONE_WAIT_MS);
    if (gone) return infra(`its container ${containerId.slice(0, 12)} stopped under it`, crash, { ...crash.details, containerId });
  }
  return crash;
}

/**
 * Throws SWERL_REWARD_INFRA_FAILED when the container a verdict came from is no longer running
 * (or Docker cannot say): a verdict of 0 is checked for a while, since a kill mid-run ends the
 * test session before the daemon reports the container stopped.
 */
export async function assertVerdictStands(docker: Docker, containerId: string, reward: number): Promise<void> {
  const why = new Error(`the verdict (reward ${reward}) came from a container that is no longer running`);
  if (!(await dockerAnswers(docker))) throw infra('Docker does not answer after the verdict', why, { containerId });
  const gone = await containerGone(docker.getContainer(containerId), why, reward >= 1 ? 0 : VERDICT_GONE_WAIT_MS);
  if (gone) throw infra(`its container ${containerId.slice(0, 12)} stopped under it`, why, { containerId });
}
