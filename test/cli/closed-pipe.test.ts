import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { childEnv, kilnBin } from '../helpers/processes.ts';

describe('kiln writing to a pipe its reader closed', () => {
  it('ends quietly with the status SIGPIPE gives other tools, not a stack trace', async () => {
    const child = spawn(kilnBin, ['--help'], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Closed before kiln writes anything, as `head` does once it has its lines.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    assert.equal(stderr, '');
    assert.equal(code, 141);
  });
});
