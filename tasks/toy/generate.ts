/**
 * Generates the toy suite: tasks/toy/tasks.jsonl and tasks/toy/repos/<instance_id>.tar.gz.
 *
 *   npx tsx tasks/toy/generate.ts            write the suite
 *   npx tsx tasks/toy/generate.ts --verify   also check every task with the host's pytest
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { everyThirdHeldOut, writeSuite } from '../suite';
import { toySpecs } from './specs';

writeSuite(toySpecs, { dir: dirname(fileURLToPath(import.meta.url)), prefix: 'toy', splitOf: everyThirdHeldOut, verify: process.argv.includes('--verify') });
