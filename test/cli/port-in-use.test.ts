import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childEnv, linesOf, runKiln } from '../helpers/processes.ts';

/**
 * `kiln serve` and `kiln up` on a port something else holds: one line on
 * stderr, exit code 2, no stack trace, and the holder keeps its port.
 */
describe('kiln serve and kiln up on a port in use', () => {
  let holder: Server;
  let port: number;
  let work: string;

  before(async () => {
    holder = createServer((socket) => socket.end('still mine\n'));
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const address = holder.address();
    assert.ok(typeof address === 'object' && address !== null);
    port = address.port;
    work = await mkdtemp(join(tmpdir(), 'kiln-port-in-use-'));
  });

  after(async () => {
    holder.close();
    await rm(work, { recursive: true, force: true });
  });

  for (const command of ['serve', 'up'] as const) {
    it(`kiln ${command} says so in one line and exits 2`, async () => {
      const result = await runKiln(
        [command, '--data', join(work, command), '--port', String(port)],
        {
          env: childEnv({ XDG_CONFIG_HOME: join(work, `${command}-config`) }),
        },
      );
      assert.equal(result.code, 2, `exit code (stderr: ${result.stderr})`);
      assert.deepEqual(linesOf(result.stderr), [
        `kiln ${command}: cannot listen on 127.0.0.1:${port}: the address is in use (another kiln?); choose another with --port`,
      ]);
      // `serve` logs JSON on stdout: the migrations, but never that it started.
      assert.doesNotMatch(result.stdout, /kiln server started|kiln is up/);
      assert.ok(
        linesOf(result.stdout).every((line) => typeof JSON.parse(line) === 'object'),
        `stdout holds only JSON log lines: ${result.stdout}`,
      );
      assert.equal(await readGreeting(port), 'still mine\n', 'the holder keeps its port');
    });
  }
});

/** What the holder of `port` on 127.0.0.1 says to a new connection. */
async function readGreeting(port: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await once(socket, 'end');
  socket.destroy();
  return text;
}
