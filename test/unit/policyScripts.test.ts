import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAction } from '../../core/actions';
import { ErrorCodes } from '../../core/errors';
import { instancePrompt } from '../../core/prompt';
import { parseTaskLine, type Task } from '../../core/tasks';
import {
  commandText,
  contextFillerScript,
  createScriptBook,
  garbageScript,
  goldActions,
  goldScript,
  identifyTask,
  loopScript,
  renderReply,
  sequence,
} from '../../activities/policy/scripts';
import { scriptedLogprobs, scriptedTokens } from '../../activities/policy/scriptedServer';
import { parseUnifiedDiff } from '../../activities/policy/unifiedDiff';

const toyTasks: Task[] = readFileSync(join(__dirname, '../../tasks/toy/tasks.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l, i) => parseTaskLine(l, i + 1));

const twoHunks = `diff --git a/pkg/mod.py b/pkg/mod.py
index 1111111..2222222 100644
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -2,3 +2,3 @@ import os
 def a():
-    return 1
+    return 2
 
@@ -20,2 +20,4 @@ def b():
 def c():
-    pass
+    x = 1
+    y = 2
+    return x + y
`;

describe('unified diff', () => {
  it('keeps hunk lines and counts', () => {
    const [f] = parseUnifiedDiff(twoHunks);
    expect(f!.oldPath).toBe('pkg/mod.py');
    expect(f!.hunks.map((h) => [h.oldStart, h.oldCount, h.newStart, h.newCount])).toEqual([[2, 3, 2, 3], [20, 2, 20, 4]]);
    expect(f!.hunks[0]!.lines).toEqual([
      { op: ' ', text: 'def a():' },
      { op: '-', text: '    return 1' },
      { op: '+', text: '    return 2' },
      { op: ' ', text: '' },
    ]);
  });

  it('rejects a hunk whose body ends before its header count, naming the patch', () => {
    expect(() => parseUnifiedDiff('--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n', 'gold patch of t-1')).toThrow(
      /SWERL_TASK_INVALID: gold patch of t-1: hunk "@@ -1,3 \+1,3 @@" of x ends early/,
    );
  });
});

describe('gold actions', () => {
  it('opens the file and edits hunks bottom-up, then submits', () => {
    expect(goldActions(twoHunks).map((a) => a.action)).toEqual([
      { kind: 'open', path: 'pkg/mod.py', line: 20 },
      { kind: 'edit', start: 20, end: 21, text: 'def c():\n    x = 1\n    y = 2\n    return x + y\n' },
      { kind: 'edit', start: 2, end: 4, text: 'def a():\n    return 2\n\n' },
      { kind: 'submit' },
    ]);
  });

  it('creates new files, removes deleted ones and moves renamed ones', () => {
    const patch = `diff --git a/new.py b/new.py
new file mode 100644
--- /dev/null
+++ b/new.py
@@ -0,0 +1,2 @@
+X = 1
+Y = 2
diff --git a/old.py b/old.py
deleted file mode 100644
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-gone = True
diff --git a/a.py b/sub/b.py
similarity index 100%
rename from a.py
rename to sub/b.py
`;
    expect(goldActions(patch).map((a) => a.action)).toEqual([
      { kind: 'create', path: 'new.py' },
      { kind: 'edit', start: 1, end: 1, text: 'X = 1\nY = 2\n' },
      { kind: 'shell', command: "rm 'old.py'" },
      { kind: 'shell', command: "mkdir -p 'sub' && mv 'a.py' 'sub/b.py'" },
      { kind: 'submit' },
    ]);
  });

  it('refuses what the line-range edit cannot replay', () => {
    expect(() => goldActions('--- a/x.py\n+++ b/x.py\n@@ -3,0 +4 @@\n+z = 1\n', 'gold patch of t-2')).toThrow(/gold patch of t-2: hunk @@ -3,0 @@ of x.py inserts without context/);
    try {
      goldActions('--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+end_of_edit\n');
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe(ErrorCodes.TASK_INVALID);
    }
  });

  it(`every toy task's gold script parses back to its actions (${toyTasks.length} tasks)`, () => {
    expect(toyTasks.length).toBeGreaterThanOrEqual(30);
    for (const task of toyTasks) {
      const actions = goldActions(task.goldPatch);
      const script = goldScript(task);
      expect(script.length).toBe(actions.length);
      actions.forEach((a, turn) => {
        const parsed = parseAction(script.reply(turn));
        expect(parsed, `${task.instanceId} turn ${turn}`).toEqual({ ok: true, action: a.action, thought: a.thought });
      });
      expect(actions[0]!.action.kind).toBe('open');
      expect(actions.at(-1)!.action).toEqual({ kind: 'submit' });
      // past the end the script keeps submitting
      expect(parseAction(script.reply(actions.length + 5))).toMatchObject({ ok: true, action: { kind: 'submit' } });
    }
  });
});

describe('rendering replies', () => {
  it('fences a command that contains a backtick-only line with a longer fence', () => {
    const action = { kind: 'edit' as const, start: 3, end: 4, text: 'doc = """\n```\n"""\n' };
    const text = renderReply('Fix the docstring.', commandText(action));
    expect(text).toBe('Fix the docstring.\n\n````\nedit 3:4\ndoc = """\n```\n"""\nend_of_edit\n````');
    expect(parseAction(text)).toEqual({ ok: true, action, thought: 'Fix the docstring.' });
  });

  it('quotes paths and patterns with spaces for the tools tokenizer', () => {
    for (const action of [
      { kind: 'open' as const, path: 'my dir/a "b".py', line: 3 },
      { kind: 'search_file' as const, pattern: 'def x(', path: 'a b.py' },
      { kind: 'create' as const, path: "it's.py" },
    ]) {
      expect(parseAction(renderReply('t', commandText(action)))).toMatchObject({ ok: true, action });
    }
  });
});

describe('failure-mode scripts', () => {
  it('garbage replies are format errors, loops and fillers are shell commands', () => {
    const g = garbageScript(2);
    expect(g.length).toBe(2);
    expect(parseAction(g.reply(0))).toMatchObject({ ok: false, error: { code: 'SWERL_FORMAT_NO_BLOCK' } });
    expect(g.reply(0)).not.toBe(g.reply(1));
    expect(loopScript().length).toBeUndefined();
    expect(parseAction(loopScript().reply(79))).toMatchObject({ ok: true, action: { kind: 'shell', command: 'ls' } });
    expect(parseAction(contextFillerScript(50_000).reply(3))).toMatchObject({
      ok: true,
      action: { kind: 'shell', command: "yes 'swerl context filler line' | head -c 50000" },
    });
  });

  it('sequence plays K garbage turns, then the gold script', () => {
    const gold = goldScript({ instanceId: 't', goldPatch: twoHunks });
    const s = sequence(garbageScript(2), gold);
    expect(s.length).toBe(6);
    expect(s.reply(1)).toBe(garbageScript(2).reply(1));
    expect(s.reply(2)).toBe(gold.reply(0));
    expect(s.reply(5)).toBe(gold.reply(3));
    expect(s.reply(9)).toBe(gold.reply(3));
    expect(sequence(garbageScript(1), loopScript()).length).toBeUndefined();
    expect(() => sequence(loopScript(), gold)).toThrow(/unbounded/);
  });
});

describe('task identification', () => {
  const book = createScriptBook([
    { instanceId: 'toy__a-1', problemStatement: 'Parser drops the last token\n', script: loopScript() },
    { instanceId: 'toy__b-1', problemStatement: 'Totals are off by one', script: loopScript() },
  ]);

  it('finds the task from the header, a tag, a Task: line, or the issue text of instancePrompt', () => {
    expect(identifyTask(book, 'anything', 'toy__b-1')).toBe('toy__b-1');
    expect(identifyTask(book, 'x <task id="toy__a-1"> y')).toBe('toy__a-1');
    expect(identifyTask(book, 'Fix it.\nTask: toy__z-9\n')).toBe('toy__z-9');
    expect(identifyTask(book, instancePrompt('Parser drops the last token'))).toBe('toy__a-1');
    expect(identifyTask(book, 'Please look: Totals are off by one, thanks')).toBe('toy__b-1');
    expect(identifyTask(book, instancePrompt('something else'))).toBeUndefined();
  });

  it('refuses two tasks a prompt cannot tell apart', () => {
    expect(() =>
      createScriptBook([
        { instanceId: 'a', problemStatement: 'same', script: loopScript() },
        { instanceId: 'b', problemStatement: 'same ', script: loopScript() },
      ]),
    ).toThrow(/b and a have the same problem statement/);
  });
});

describe('scripted tokens', () => {
  it('uses UTF-8 bytes as ids and cuts at max_tokens', () => {
    expect(scriptedTokens('hé', 10)).toEqual({ ids: [104, 195, 169], text: 'hé', finish: 'stop' });
    expect(scriptedTokens('hello', 2)).toEqual({ ids: [104, 101], text: 'he', finish: 'length' });
  });

  it('gives deterministic negative logprobs', () => {
    // -(((id*31 + i*7 + turn*13) % 100) + 1) / 100: 3224%100=24, 6052%100=52, 5253%100=53
    expect(scriptedLogprobs([104, 195, 169], 0)).toEqual([-0.25, -0.53, -0.54]);
    // turn 1 adds 13: 37, 65, 66
    expect(scriptedLogprobs([104, 195, 169], 1)).toEqual([-0.38, -0.66, -0.67]);
  });
});
