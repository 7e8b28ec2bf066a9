import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { makeDebianFixture } from '../helpers/debian-fixture.ts';
import { expectResult, startDebianFarm, type DebianFarm } from '../helpers/debian-farm.ts';
import { describeDebian } from '../helpers/debian-images.ts';

await describeDebian('Debian builds that fail', () => {
  let farm: DebianFarm;
  before(async () => {
    farm = await startDebianFarm('deb-failures');
  });
  after(async () => {
    await farm.close();
  });

  /** Builds the source of a fixture, then its amd64 binaries; returns the binary task. */
  async function buildFixture(name: string, options: Parameters<typeof makeDebianFixture>[1]) {
    const repo = await makeDebianFixture(join(farm.root, name), { name, ...options });
    const source = await farm.finished(await farm.submitSource(repo, 'main'));
    await expectResult(farm, source, 'success');
    return farm.finished(await farm.submitBinary({ task: source.id }, 'amd64'));
  }

  it('a compiler error fails the build: result failure, the saved build log has the error', async () => {
    const task = await farm.logSaved(
      await buildFixture('broken-kiln', {
        program: 'int main(void) { return undeclared_kiln_symbol; }\n',
      }),
    );
    await expectResult(farm, task, 'failure');
    assert.equal(task.reason, 'build');
    assert.match(task.message ?? '', /dpkg-buildpackage failed/);
    assert.ok(task.log_artifact !== null, 'the log is saved as an artifact');
    assert.deepEqual(task.outputs, [task.log_artifact], 'no packages, only the log');
    const logArtifact = await farm.artifact(task.log_artifact);
    assert.equal(logArtifact.type, 'build-log');
    const [file] = logArtifact.files;
    assert.ok(file !== undefined, 'the log artifact has a file');
    const log = await readFile(await farm.download(logArtifact.id, file.path), 'utf8');
    assert.match(log, /hello\.c:1:\d+: error: [‘']undeclared_kiln_symbol[’'] undeclared/);
  });

  it('a git URL that is not a repository: an error that names it', async () => {
    const missing = join(farm.root, 'no-such-repository');
    const task = await farm.finished(await farm.submitSource(missing, 'main'));
    await expectResult(farm, task, 'error');
    assert.equal(task.reason, 'git');
    assert.ok(
      task.message?.startsWith(`cannot read the git repository ${missing}: `),
      task.message ?? '',
    );
    assert.match(task.message ?? '', /: '[^']+' does not appear to be a git repository$/);
  });

  it('a git URL of a protocol kiln does not fetch: an error that says so', async () => {
    const task = await farm.finished(await farm.submitSource('ftp://127.0.0.1/repo.git', 'main'));
    await expectResult(farm, task, 'error');
    assert.equal(
      task.message,
      'git URL "ftp://127.0.0.1/repo.git" has protocol ftp:, not https, http, file, git or ssh',
    );
  });

  it('a ref the repository does not have: an error that names the ref and the URL', async () => {
    const repo = await makeDebianFixture(join(farm.root, 'refs-kiln'), { name: 'refs-kiln' });
    const task = await farm.finished(await farm.submitSource(repo, 'no-such-branch'));
    await expectResult(farm, task, 'error');
    assert.equal(task.reason, 'git');
    assert.equal(task.message, `git ref "no-such-branch" is not in ${repo}`);
  });

  it('the build step has no network: a connection to a listening port on the host fails the build', async () => {
    let connections = 0;
    const listener: Server = createServer((socket) => {
      connections++;
      socket.end('reached\n');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const address = listener.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      // The probe reaches the listener from anywhere with the host's network
      // (bash's /dev/tcp, as the build image has no curl): only isolation stops it.
      const task = await buildFixture('online-kiln', {
        beforeBuild: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo KILN-NETWORK-$$((6*7))'`,
      });
      await expectResult(farm, task, 'failure');
      assert.equal(task.reason, 'build');
      const log = await farm.log(task);
      assert.match(
        log,
        /\/dev\/tcp\/127\.0\.0\.1\/\d+: (Connection refused|Network is unreachable)/,
      );
      assert.doesNotMatch(log, /KILN-NETWORK-42/);
      assert.equal(connections, 0);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});
