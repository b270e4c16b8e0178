// One lint config for the whole tree. Workflows get an extra rule: they run in Temporal's
// deterministic sandbox, so Node built-ins and I/O libraries are forbidden there.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const ioModules = ['dockerode', 'pg', 'drizzle-orm', 'drizzle-orm/*', 'pino', 'yaml', 'commander', 'tar-stream',
  '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'];
const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', '.swerl/**', 'trainer/**', 'db/migrations/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // The dashboard's page: plain browser script, no build step.
    files: ['dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(['document', 'window', 'location', 'history', 'sessionStorage', 'fetch', 'console', 'setTimeout',
        'clearTimeout', 'URLSearchParams', 'Node', 'uPlot'].map((g) => [g, 'readonly'])),
    },
  },
  {
    files: ['workflows/**/*.ts', 'core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...nodeBuiltins, ...ioModules.filter((m) => !m.includes('*'))].map((name) => ({
          name, message: 'workflows/ and core/ must stay deterministic and free of I/O (DESIGN.md): move this to activities/.',
        })),
        patterns: [{ group: ['drizzle-orm/*', '../activities/*', '../activities'], allowTypeImports: true,
          message: 'workflows/ may import activities by type only.' }],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' },
        { name: 'fetch', message: 'I/O belongs in activities/' },
        { name: 'process', message: 'no process access in workflows/core' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'use workflow time (Date is patched) or pass time in explicitly' },
      ],
    },
  },
);
