/**
 * The reward of a real SWE-bench task, graded as SWE-bench grades it: R = 1 iff the official
 * harness would call the prediction resolved.
 *
 * In a fresh container from the task's environment image (sandbox/swebenchEnv.ts; uid 1000, no
 * network, the same limits as an agent sandbox), the agent's diff is applied the way
 * run_evaluation applies a prediction (its GIT_APPLY_CMDS in order: git apply, git apply --reject,
 * patch --fuzz), test files the agent touched are put back at the base commit, the official eval
 * script runs (swebench's make_eval_script_list for the repo and version: it resets and applies
 * test_patch, runs the spec's test command between the start/end markers), and the whole log goes
 * to swebench's get_eval_report with the repository's own log parser. The log is the script's
 * output as the root tool server reads it from its pipe, never a file in the sandbox: the tests run
 * the agent's code as the sandbox user, and a file that user can write is a verdict it can forge. Test ids are therefore
 * matched exactly as the official parser writes them (parametrised ids cut where it cuts them).
 *
 * Outcomes, as in reward.ts: a diff that applies with none of the commands, a test run that times
 * out, a log without the markers (test_patch did not apply) are R = 0 with a reason; a harness that
 * could not run at all (container or bridge failure) throws SWERL_REWARD_HARNESS_CRASHED.
 */
import type Docker from 'dockerode';
import { ErrorCodes, SandboxError, SwerlError } from '../../core/errors';
import { swebench, type GradeAnswer, type SwebenchInstance, type TestStatus } from '../../sandbox/swebenchBridge';
import type { EnvLayout } from '../../sandbox/swebenchEnv';
import { classifyHarnessFailure, assertVerdictStands } from './infra';
import { createSandbox, type Sandbox, type SandboxLimits } from '../sandbox';
import { pathsToRestore, type RewardResult } from '../reward';
import type { ListedOutcome, RewardTest, TestList } from './scoring';

export interface SwebenchRewardOptions {
  image: string;
  layout: EnvLayout;
  limits: SandboxLimits;
  /** Wall-clock cap on the eval script, enforced inside the container. Default 1800 s (SWE-bench's default timeout). */
  testTimeoutSec?: number;
  labels?: { run: string; episode: string };
  leaseTtlSec?: number;
}

export interface SwebenchProvenance {
  parser: string | null;
  swebench: string;
  /** The official status of every test the parser found (not only the listed ones). */
  statusMap: Record<string, TestStatus>;
  /** The command of GIT_APPLY_CMDS that applied the agent's diff (null: empty diff or none applied). */
  appliedWith: string | null;
  logFound: boolean;
}

export type SwebenchRewardResult = RewardResult & { swebench: SwebenchProvenance };

const WORK = '/tmp/swerl-reward';
/** Reads the eval script from stdin, closes stdin, then runs it: the script text lives only in bash's memory. */
const EVAL_RUNNER = 'script=$(cat) && exec </dev/null && eval "$script"';
/** A test log larger than this is not graded (R = 0, test_log_too_large); SWE-bench logs are rarely over a few MB. */
const MAX_EVAL_LOG_BYTES = 32 * 1024 * 1024;
const OUTPUT_TAIL_CHARS = 4000;
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const tail = (s: string): string => (s.length > OUTPUT_TAIL_CHARS ? s.slice(-OUTPUT_TAIL_CHARS) : s);

/** The official status of one listed test, in swerl's outcome words (absent from the log: missing). */
function outcomeOf(status: TestStatus | undefined): ListedOutcome {
  switch (status) {
    case 'PASSED':
    case 'XFAIL':
      return 'passed';
    case 'FAILED':
      return 'failed';
    case 'ERROR':
      return 'error';
    case 'SKIPPED':
      return 'skipped';
    default:
      return 'missing';
  }
}

function testsFrom(instance: SwebenchInstance, grade: GradeAnswer | undefined): RewardTest[] {
  const list = (v: string[] | string): string[] => (typeof v === 'string' ? (JSON.parse(v) as string[]) : v);
  const entries: { nodeid: string; list: TestList }[] = [
    ...list(instance.FAIL_TO_PASS).map((nodeid) => ({ nodeid, list: 'FAIL_TO_PASS' as const })),
    ...list(instance.PASS_TO_PASS).map((nodeid) => ({ nodeid, list: 'PASS_TO_PASS' as const })),
  ];
  return entries.map((t) => {
    const outcome = outcomeOf(grade?.statusMap[t.nodeid]);
    return { ...t, outcome, durationSec: 0, runs: [outcome] };
  });
}

function crashed(instance: SwebenchInstance, image: string, step: string, cause: unknown): SandboxError {
  if (cause instanceof SwerlError && cause.code === ErrorCodes.REWARD_HARNESS_CRASHED) return cause as SandboxError;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError(ErrorCodes.REWARD_HARNESS_CRASHED, `swebench grading of ${instance.instance_id} (image ${image}) crashed while ${step}: ${why}`, { instanceId: instance.instance_id, image, step }, { cause });
}

/** Applies `diff` with the official commands in order; returns the one that worked, or the last output. */
async function applyLikeHarness(sb: Sandbox, repoDir: string, applyCmds: string[], diff: string): Promise<{ appliedWith: string | null; output: string }> {
  await sb.writeFile(`${WORK}/agent.diff`, diff.endsWith('\n') ? diff : `${diff}\n`);
  let output = '';
  for (const cmd of applyCmds) {
    const res = await sb.exec(`cd ${q(repoDir)} && ${cmd} ${WORK}/agent.diff 2>&1`, { timeoutSec: 120 });
    if (res.exitCode === 0) return { appliedWith: cmd, output: res.output };
    output = res.output;
    // A failed `--reject` or `patch` leaves partial hunks and .rej/.orig files behind: start the next try clean.
    await sb.exec(`cd ${q(repoDir)} && git checkout -q -- . && git clean -fdq`, { timeoutSec: 120 });
  }
  return { appliedWith: null, output };
}

export async function computeSwebenchReward(docker: Docker, instance: SwebenchInstance, agentDiff: string, opts: SwebenchRewardOptions): Promise<SwebenchRewardResult> {
  const started = Date.now();
  const { repoDirectory } = opts.layout;
  const timeoutSec = opts.testTimeoutSec ?? 1800;
  let sb: Sandbox;
  try {
    sb = await createSandbox(docker, {
      image: opts.image,
      limits: opts.limits,
      labels: opts.labels ?? { run: 'reward', episode: instance.instance_id },
      leaseTtlSec: opts.leaseTtlSec ?? 3600,
    });
  } catch (err) {
    throw await classifyHarnessFailure(docker, undefined, crashed(instance, opts.image, 'starting its container', err));
  }
  let step = 'fetching the eval script';
  try {
    const out = await gradeIn(sb, (s) => {
      step = s;
    });
    step = 'checking its container after the verdict';
    await assertVerdictStands(docker, sb.containerId, out.reward);
    return out;
  } catch (err) {
    if (err instanceof SwerlError && err.code === ErrorCodes.REWARD_INFRA_FAILED) throw err;
    throw await classifyHarnessFailure(docker, sb.containerId, crashed(instance, opts.image, step, err));
  } finally {
    await sb.destroy().catch(() => undefined);
  }

  async function gradeIn(sb: Sandbox, setStep: (s: string) => void): Promise<SwebenchRewardResult> {
    const evalAns = await swebench.evalScript(instance, opts.layout);
    const done = (r: Omit<SwebenchRewardResult, 'durationMs' | 'image'>): SwebenchRewardResult => ({ ...r, durationMs: Date.now() - started, image: opts.image });
    const prov = (grade: GradeAnswer | undefined, appliedWith: string | null): SwebenchProvenance => ({
      parser: grade?.parser ?? null,
      swebench: grade?.swebench ?? '',
      statusMap: grade?.statusMap ?? {},
      appliedWith,
      logFound: grade?.logFound ?? false,
    });

    setStep('resetting the repository');
    const base = q(instance.base_commit);
    const reset = await sb.exec(`set -e; mkdir -p ${WORK}; cd ${q(repoDirectory)}; git reset -q --hard ${base}; git clean -fdq`, { timeoutSec: 120 });
    if (reset.exitCode !== 0) throw new Error(`cannot reset ${repoDirectory} to ${instance.base_commit}: ${reset.output.trim()}`);

    setStep('applying the agent diff');
    let appliedWith: string | null = null;
    if (agentDiff.trim() !== '') {
      const applied = await applyLikeHarness(sb, repoDirectory, evalAns.applyCmds, agentDiff);
      if (!applied.appliedWith) {
        return done({ reward: 0, reason: 'patch_does_not_apply', patchApplied: false, tests: testsFrom(instance, undefined), outputTail: tail(applied.output), harnessExitCode: null, swebench: prov(undefined, null) });
      }
      appliedWith = applied.appliedWith;
      // Test files (and root pytest config) the agent touched are judged at the base commit, as in reward.ts.
      const restore = pathsToRestore(agentDiff, '');
      if (restore.length > 0) {
        setStep('restoring test files');
        const script = `set -e; cd ${q(repoDirectory)}; for p in ${restore.map(q).join(' ')}; do ` +
          `if git cat-file -e ${base}:"$p" 2>/dev/null; then rm -rf -- "$p"; git checkout -q ${base} -- "$p"; else rm -rf -- "$p"; fi; done`;
        const res = await sb.exec(script, { timeoutSec: 120 });
        if (res.exitCode !== 0) throw new Error(`cannot restore test files: ${res.output.trim()}`);
      }
    }

    setStep('running the eval script');
    // The log is the script's own output, carried to the host by the root tool server from the
    // pipe it holds: no file in the sandbox, where code of the agent's patch (run by the tests as
    // the sandbox user) could rewrite it after the fact. The script goes in on stdin and is read
    // whole before any of it runs, so the tests can neither edit nor consume the rest of it.
    const run = await sb.exec(EVAL_RUNNER, { timeoutSec, stdin: evalAns.script, outputLimitBytes: MAX_EVAL_LOG_BYTES });
    const output = run.output;
    const harnessExitCode = run.timedOut ? null : run.exitCode;
    if (run.timedOut) {
      return done({ reward: 0, reason: 'tests_timed_out', patchApplied: true, tests: testsFrom(instance, undefined), outputTail: tail(output), harnessExitCode, swebench: prov(undefined, appliedWith) });
    }
    if (run.truncated) {
      return done({ reward: 0, reason: 'test_log_too_large', patchApplied: true, tests: testsFrom(instance, undefined), outputTail: tail(output), harnessExitCode, swebench: prov(undefined, appliedWith) });
    }

    setStep('grading the log');
    const grade = await swebench.grade(instance, output);
    const tests = testsFrom(instance, grade);
    const reason = grade.resolved ? 'resolved' : grade.logFound ? 'tests_failed' : 'test_patch_does_not_apply';
    return done({ reward: grade.resolved ? 1 : 0, reason, patchApplied: true, tests, outputTail: tail(output), harnessExitCode, swebench: prov(grade, appliedWith) });
  }
}
