/**
 * Runs the whole test suite: unit tests next to the code and integration tests
 * in `test/`, every database test on PGlite and, when `KILN_TEST_DATABASE_URL`
 * is set, on that PostgreSQL server too. In CI (`CI` set) that URL is required.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const inCi = (process.env['CI'] ?? '') !== '';
if (inCi && process.env['KILN_TEST_DATABASE_URL'] === undefined) {
  process.stderr.write('run-tests: CI is set but KILN_TEST_DATABASE_URL is not\n');
  process.exit(1);
}
const patterns =
  process.argv.length > 2 ? process.argv.slice(2) : ['src/**/*.test.ts', 'test/**/*.test.ts'];
mkdirSync('test-results', { recursive: true });
const result = spawnSync(
  process.execPath,
  [
    '--disable-warning=ExperimentalWarning',
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/file-durations-reporter.ts',
    '--test-reporter-destination=test-results/file-durations.txt',
    '--test-concurrency=3',
    '--test-timeout=600000',
    ...patterns,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
