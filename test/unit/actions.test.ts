import { describe, expect, it } from 'vitest';
import {
  innerRenderOptions,
  parseAction,
  renderActionCommand,
  renderFormatErrorCommand,
  shellQuote,
  tokenize,
  type Action,
  type ParseResult,
} from '../../core/actions';
import { extractSubmission, formatPromptLine, parsePromptLine } from '../../core/observation';
import { instancePrompt, systemPrompt } from '../../core/prompt';

const block = (body: string, tag = '') => `Let me look.\n\`\`\`${tag}\n${body}\n\`\`\`\n`;

function action(text: string): Action {
  const r = parseAction(text);
  if (!r.ok) throw new Error(`expected an action, got ${r.error.code}: ${r.error.message}`);
  return r.action;
}

function errorCode(text: string): string {
  const r = parseAction(text);
  return r.ok ? `ok:${r.action.kind}` : r.error.code;
}

describe('parseAction: block structure', () => {
  it('takes the single block and the reasoning around it', () => {
    const r = parseAction('I will list files.\n```\nls -la\n```\nThen decide.');
    expect(r).toEqual<ParseResult>({
      ok: true,
      action: { kind: 'shell', command: 'ls -la' },
      thought: 'I will list files.\nThen decide.',
    });
  });

  it('accepts language tags on the fence', () => {
    expect(action(block('ls', 'bash'))).toEqual({ kind: 'shell', command: 'ls' });
    expect(action(block('ls', 'sh'))).toEqual({ kind: 'shell', command: 'ls' });
    expect(action(block('ls', ' shell '))).toEqual({ kind: 'shell', command: 'ls' });
  });

  it('normalises CRLF and lone CR', () => {
    expect(parseAction('think\r\n```\r\nls\r\npwd\r\n```\r\n')).toEqual({
      ok: true, action: { kind: 'shell', command: 'ls\npwd' }, thought: 'think',
    });
    expect(action('x\r```\rgoto 3\r```')).toEqual({ kind: 'goto', line: 3 });
  });

  it('rejects zero blocks, including inline triple backticks', () => {
    expect(errorCode('I think I should run ls')).toBe('SWERL_FORMAT_NO_BLOCK');
    expect(errorCode('run ```ls``` now')).toBe('SWERL_FORMAT_NO_BLOCK');
    expect(errorCode('```ls```')).toBe('SWERL_FORMAT_NO_BLOCK');
  });

  it('rejects an unterminated block with a message that says so', () => {
    const r = parseAction('reasoning\n```\nls -la\n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('SWERL_FORMAT_NO_BLOCK');
      expect(r.error.message).toContain('not closed');
    }
  });

  it('rejects two blocks, even when the first is an example inside the reasoning', () => {
    const text = 'The bug is in:\n```python\ndef f(): pass\n```\nso I run:\n```\npython -m pytest\n```';
    const r = parseAction(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('SWERL_FORMAT_MULTIPLE_BLOCKS');
      expect(r.error.message).toContain('2 command blocks');
    }
  });

  it('rejects empty responses and empty blocks', () => {
    expect(errorCode('')).toBe('SWERL_FORMAT_EMPTY');
    expect(errorCode('  \n\t\n')).toBe('SWERL_FORMAT_EMPTY');
    expect(errorCode('nothing to do\n```\n\n   \n```')).toBe('SWERL_FORMAT_EMPTY');
    expect(errorCode('```\n```')).toBe('SWERL_FORMAT_EMPTY');
  });

  it('lets a longer fence carry triple backticks inside the command', () => {
    const text = 'write a readme\n````\ncat > README.md <<EOF\n```\ncode\n```\nEOF\n````';
    expect(action(text)).toEqual({ kind: 'shell', command: 'cat > README.md <<EOF\n```\ncode\n```\nEOF' });
  });

  it('closes a block only with at least as many backticks as opened it', () => {
    // the inner ``` does not close the ```` block; the block stays open, so there is none
    expect(errorCode('x\n````\nls\n```\n')).toBe('SWERL_FORMAT_NO_BLOCK');
  });

  it('keeps non-ASCII text and indentation of multi-line shell commands', () => {
    const cmd = 'python - <<EOF\nfor x in ["é", "日本"]:\n    print(x)\nEOF';
    expect(action(`Überlegung: 🚀\n\`\`\`\n${cmd}\n\`\`\``)).toEqual({ kind: 'shell', command: cmd });
  });

  it('trims blank lines around the command and trailing whitespace', () => {
    expect(action('```\n\n  ls   \n\n```')).toEqual({ kind: 'shell', command: '  ls' });
  });

  it('never throws on hostile input', () => {
    const inputs: unknown[] = [
      '`'.repeat(100_000),
      '```\n'.repeat(10_001),
      `${'a'.repeat(2_000_000)}\n\`\`\`\nls\n\`\`\``,
      '\u0000\u0001```\u0000\n```',
      '\uD800 lone surrogate ```',
      undefined,
      null,
      42,
    ];
    for (const input of inputs) {
      expect(() => parseAction(input as string)).not.toThrow();
    }
    expect(errorCode('```\n'.repeat(10_001))).toBe('SWERL_FORMAT_MULTIPLE_BLOCKS');
    expect(action('```\nls\u0000 -a\n```')).toEqual({ kind: 'shell', command: 'ls -a' });
    expect(action(`${'a'.repeat(2_000_000)}\n\`\`\`\nls\n\`\`\``)).toEqual({ kind: 'shell', command: 'ls' });
  });

  it('parses a megabyte response in linear time', () => {
    // The bound tells linear from quadratic, not fast from slow: a backtracking parse of these
    // inputs takes ~10^12 steps (many minutes); a linear one takes milliseconds, even on a machine
    // at load average 50 (where 500 ms was once exceeded).
    const big = `${'reasoning line\n'.repeat(70_000)}\`\`\`\nls\n\`\`\``;
    const t0 = performance.now();
    expect(action(big)).toEqual({ kind: 'shell', command: 'ls' });
    expect(performance.now() - t0).toBeLessThan(10_000);
    const t1 = performance.now();
    // lines built to make a backtracking regex go quadratic
    expect(errorCode(`${' '.repeat(1_000_000)}x\n\`\`\`${' '.repeat(1_000_000)}x\n${'`'.repeat(1_000_000)} x`)).toBe('SWERL_FORMAT_NO_BLOCK');
    expect(performance.now() - t1).toBeLessThan(10_000);
  });

  it('ignores a trailing unterminated fence after one complete block (a response cut at max tokens)', () => {
    expect(parseAction('```\nls\n```\nthen\n```\npwd')).toEqual({ ok: true, action: { kind: 'shell', command: 'ls' }, thought: 'then\n```\npwd' });
  });
});

describe('parseAction: tools and their arguments', () => {
  it('open with and without a line', () => {
    expect(action(block('open src/x.py'))).toEqual({ kind: 'open', path: 'src/x.py' });
    expect(action(block('open src/x.py 120'))).toEqual({ kind: 'open', path: 'src/x.py', line: 120 });
    expect(action(block('open "my dir/x.py" 7'))).toEqual({ kind: 'open', path: 'my dir/x.py', line: 7 });
  });

  it('open with bad arguments', () => {
    expect(errorCode(block('open'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('open x.py abc'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('open x.py 0'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('open x.py 1 2'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('open "x.py'))).toBe('SWERL_FORMAT_BAD_ARGS');
  });

  it('goto', () => {
    expect(action(block('goto 42'))).toEqual({ kind: 'goto', line: 42 });
    for (const bad of ['goto', 'goto abc', 'goto 0', 'goto -3', 'goto 4.5', 'goto 1 2', 'goto 9999999999']) {
      expect(errorCode(block(bad)), bad).toBe('SWERL_FORMAT_BAD_ARGS');
    }
  });

  it('scroll_up, scroll_down and submit take no arguments', () => {
    expect(action(block('scroll_up'))).toEqual({ kind: 'scroll_up' });
    expect(action(block('scroll_down'))).toEqual({ kind: 'scroll_down' });
    expect(action(block('submit'))).toEqual({ kind: 'submit' });
    expect(action(block('  submit  '))).toEqual({ kind: 'submit' });
    expect(errorCode(block('scroll_down 3'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('submit now'))).toBe('SWERL_FORMAT_BAD_ARGS');
  });

  it('a tool must be alone in its block', () => {
    const r = parseAction(block('open a.py\ngoto 5'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('SWERL_FORMAT_BAD_ARGS');
      expect(r.error.message).toBe('`open` must be the only command in its block. Usage: `open <file> [<line_number>]`\nNothing was run.');
    }
    expect(errorCode(block('submit\nls'))).toBe('SWERL_FORMAT_BAD_ARGS');
  });

  it('tool names only count as the first word', () => {
    expect(action(block('opener x'))).toEqual({ kind: 'shell', command: 'opener x' });
    expect(action(block('cd src && open x.py'))).toEqual({ kind: 'shell', command: 'cd src && open x.py' });
    expect(action(block('git submit'))).toEqual({ kind: 'shell', command: 'git submit' });
  });

  it('create', () => {
    expect(action(block('create reproduce.py'))).toEqual({ kind: 'create', path: 'reproduce.py' });
    expect(errorCode(block('create'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('create a b'))).toBe('SWERL_FORMAT_BAD_ARGS');
  });

  it('search_file with and without a file, quoted patterns', () => {
    expect(action(block('search_file foo'))).toEqual({ kind: 'search_file', pattern: 'foo' });
    expect(action(block('search_file foo src/x.py'))).toEqual({ kind: 'search_file', pattern: 'foo', path: 'src/x.py' });
    expect(action(block('search_file "def main(" x.py'))).toEqual({ kind: 'search_file', pattern: 'def main(', path: 'x.py' });
    expect(action(block("search_file 'it''s' x.py"))).toEqual({ kind: 'search_file', pattern: 'its', path: 'x.py' });
    expect(action(block('search_file a\\ b'))).toEqual({ kind: 'search_file', pattern: 'a b' });
    expect(errorCode(block('search_file'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('search_file ""'))).toBe('SWERL_FORMAT_BAD_ARGS');
    expect(errorCode(block('search_file def main x.py'))).toBe('SWERL_FORMAT_BAD_ARGS');
  });

  it('edit: range, text with exact indentation, terminator', () => {
    const body = 'edit 5:7\n    if x:\n        return "$HOME `id`"\nend_of_edit';
    expect(action(block(body))).toEqual({
      kind: 'edit', start: 5, end: 7, text: '    if x:\n        return "$HOME `id`"\n',
    });
    expect(action(block('edit 3 : 3\n\nend_of_edit'))).toEqual({ kind: 'edit', start: 3, end: 3, text: '\n' });
    expect(action(block('edit 3:4\nend_of_edit'))).toEqual({ kind: 'edit', start: 3, end: 4, text: '' });
    expect(action(block('edit 1:1\n  x = 1  \n  end_of_edit  \n\n'))).toEqual({ kind: 'edit', start: 1, end: 1, text: '  x = 1  \n' });
  });

  it('edit: bad ranges and missing terminator', () => {
    const bad = ['edit 5:2\nx\nend_of_edit', 'edit 0:1\nx\nend_of_edit', 'edit 5\nx\nend_of_edit', 'edit a:b\nend_of_edit',
      'edit 1:2:3\nend_of_edit', 'edit\nend_of_edit', 'edit 1:2\nx = 1', 'edit 1:2\nx\nend_of_edit\nls'];
    for (const b of bad) expect(errorCode(block(b)), b).toBe('SWERL_FORMAT_BAD_ARGS');
    const r = parseAction(block('edit 1:2\nx = 1'));
    expect(r.ok ? '' : r.error.message).toBe(
      'The edit text was not terminated by a line `end_of_edit`. Usage: `edit <start_line>:<end_line>`, then the ' +
        'replacement lines, then a line `end_of_edit`\nNothing was run.');
    const r2 = parseAction(block('edit 5:2\nx\nend_of_edit'));
    expect(r2.ok ? '' : r2.error.message).toContain('Invalid line range 5:2');
  });

  it('edit text ends at the first end_of_edit line; later content is an error', () => {
    expect(errorCode(block('edit 1:1\nend_of_edit\nend_of_edit'))).toBe('SWERL_FORMAT_BAD_ARGS');
    // not alone on its line: ordinary text
    expect(action(block('edit 1:1\nx = "end_of_edit"\nend_of_edit'))).toEqual({ kind: 'edit', start: 1, end: 1, text: 'x = "end_of_edit"\n' });
  });
});

describe('tokenize', () => {
  it('splits like a POSIX shell for quotes and escapes', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize('  a   b ')).toEqual(['a', 'b']);
    expect(tokenize(`'a b' "c \\"d\\" \\\\" e\\ f`)).toEqual(['a b', 'c "d" \\', 'e f']);
    expect(tokenize(`"$x"`)).toEqual(['$x']);
    expect(tokenize(`''`)).toEqual(['']);
    expect(tokenize(`'open`)).toBeUndefined();
    expect(tokenize(`"open`)).toBeUndefined();
  });
});

describe('renderActionCommand', () => {
  const B = '/opt/swerl/tools/bin';
  it('renders simple tools with quoted arguments', () => {
    expect(renderActionCommand({ kind: 'open', path: "it's a.py", line: 3 })).toBe(`${B}/open 'it'\\''s a.py' 3`);
    expect(renderActionCommand({ kind: 'open', path: 'a.py' })).toBe(`${B}/open 'a.py'`);
    expect(renderActionCommand({ kind: 'goto', line: 9 })).toBe(`${B}/goto 9`);
    expect(renderActionCommand({ kind: 'scroll_up' })).toBe(`${B}/scroll_up`);
    expect(renderActionCommand({ kind: 'scroll_down' })).toBe(`${B}/scroll_down`);
    expect(renderActionCommand({ kind: 'submit' })).toBe(`${B}/submit`);
    expect(renderActionCommand({ kind: 'create', path: '$(rm -rf /)' })).toBe(`${B}/create '$(rm -rf /)'`);
    expect(renderActionCommand({ kind: 'search_file', pattern: 'a "b"', path: 'x' })).toBe(`${B}/search_file 'a "b"' 'x'`);
    expect(renderActionCommand({ kind: 'search_file', pattern: '-n' })).toBe(`${B}/search_file '-n'`);
  });

  it('sends shell commands and edit text through a quoted here-document', () => {
    expect(renderActionCommand({ kind: 'shell', command: 'echo "$HOME" `id`' })).toBe(
      `${B}/_swerl_run <<'SWERL_EOF_0'\necho "$HOME" \`id\`\nSWERL_EOF_0\n`);
    expect(renderActionCommand({ kind: 'shell', command: 'ls' }, { timeoutSec: 30, outputLimitBytes: 1000 })).toBe(
      `${B}/_swerl_run --timeout 30 --limit 1000 <<'SWERL_EOF_0'\nls\nSWERL_EOF_0\n`);
    expect(renderActionCommand({ kind: 'edit', start: 2, end: 4, text: 'a\n' })).toBe(
      `${B}/edit 2 4 <<'SWERL_EOF_0'\na\nSWERL_EOF_0\n`);
    expect(renderActionCommand({ kind: 'edit', start: 2, end: 4, text: '' })).toBe(`${B}/edit 2 4 <<'SWERL_EOF_0'\nSWERL_EOF_0\n`);
  });

  it('picks a here-document delimiter that no line of the text equals', () => {
    const text = 'SWERL_EOF_0\nSWERL_EOF_1\n SWERL_EOF_2\n';
    expect(renderActionCommand({ kind: 'edit', start: 1, end: 1, text })).toBe(
      `${B}/edit 1 1 <<'SWERL_EOF_2'\n${text}SWERL_EOF_2\n`);
  });

  it('renders a format error as a message for _swerl_prompt', () => {
    expect(renderFormatErrorCommand({ code: 'SWERL_FORMAT_EMPTY', message: 'Empty.' })).toBe(
      `${B}/_swerl_prompt --message <<'SWERL_EOF_0'\nEmpty.\nSWERL_EOF_0\n`);
  });

  it('leaves the outer sandbox limits room to spare', () => {
    expect(innerRenderOptions({ commandTimeoutSec: 120, outputLimitBytes: 65536 })).toEqual({ timeoutSec: 115, outputLimitBytes: 61440 });
    expect(innerRenderOptions({ commandTimeoutSec: 8, outputLimitBytes: 4000 })).toEqual({ timeoutSec: 6, outputLimitBytes: 1024 });
    expect(innerRenderOptions({ commandTimeoutSec: 1, outputLimitBytes: 100 })).toEqual({ timeoutSec: 1, outputLimitBytes: 1024 });
  });

  it('shellQuote', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
  });
});

describe('observation helpers', () => {
  it('formats and parses the prompt line', () => {
    expect(formatPromptLine({ openFile: null, cwd: '/repo' })).toBe('(Open file: n/a) (Current directory: /repo) bash-$');
    expect(parsePromptLine('out\n(Open file: /repo/a b.py) (Current directory: /repo/src) bash-$')).toEqual({
      openFile: '/repo/a b.py', cwd: '/repo/src',
    });
    expect(parsePromptLine('(Open file: n/a) (Current directory: /) bash-$\n')).toEqual({ openFile: null, cwd: '/' });
    expect(parsePromptLine('no prompt here')).toBeUndefined();
  });

  it('extracts the submitted patch between markers', () => {
    const patch = 'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n';
    const obs = `<<SWERL_SUBMISSION>>\n${patch}<<SWERL_SUBMISSION_END>>\n(Open file: n/a) (Current directory: /repo) bash-$`;
    expect(extractSubmission(obs)).toBe(patch);
    expect(extractSubmission('<<SWERL_SUBMISSION>>\n<<SWERL_SUBMISSION_END>>\n')).toBe('');
    expect(extractSubmission('<<SWERL_SUBMISSION>>\ndiff --git a/x b/x\n')).toBeUndefined();
    expect(extractSubmission('Error: submit failed')).toBeUndefined();
  });
});

describe('prompts', () => {
  it('documents every tool, the block rule and the turn budget', () => {
    const p = systemPrompt({ maxTurns: 40 });
    for (const tool of ['open <file>', 'goto <line_number>', 'scroll_up', 'scroll_down', 'create <file>',
      'edit <start_line>:<end_line>', 'end_of_edit', 'search_file <pattern>', 'submit']) {
      expect(p).toContain(tool);
    }
    expect(p).toContain('exactly ONE command');
    expect(p).toContain('at most 40 turns');
    // the example in the prompt must itself parse as one valid command
    const example = p.slice(p.indexOf('I need to find'), p.indexOf('A response with no command block'));
    expect(parseAction(example)).toEqual({ ok: true, action: { kind: 'shell', command: 'grep -rn "def parse" src/' },
      thought: 'I need to find where the parser is defined.' });
  });

  it('wraps the issue text', () => {
    const p = instancePrompt('  Crash on empty input\n');
    expect(p).toContain('<issue>\nCrash on empty input\n</issue>');
    expect(p.endsWith('(Open file: n/a) (Current directory: /repo) bash-$')).toBe(true);
  });
});
