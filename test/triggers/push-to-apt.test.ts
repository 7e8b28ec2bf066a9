/**
 * Issue 6 end to end: a `git push` to a bare repository with kiln's hook
 * (installed by the real `kiln hook install`) starts a `debian-pipeline` run
 * that builds the pushed commit on a real worker and publishes it to a kiln
 * APT repository, from which a real apt-get installs it. A second push with
 * a bumped version upgrades it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import type { Run } from '../../src/protocol/workflows.schema.ts';
import { createAptClient, markLibcInstalled, type AptClient } from '../helpers/apt.ts';
import { makeDebianFixture } from '../helpers/debian-fixture.ts';
import { startDebianFarm, workspace, type DebianFarm } from '../helpers/debian-farm.ts';
import { describeDebian } from '../helpers/debian-images.ts';
import { childEnv, runKiln } from '../helpers/processes.ts';
import { waitUntil } from '../helpers/waits.ts';

const exec = promisify(execFile);
const name = 'pushed-kiln';

await describeDebian('git push to apt-get install', () => {
  let farm: DebianFarm;
  let work: string;
  let apt: AptClient;
  const git = (...args: string[]) =>
    exec('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@localhost', ...args], {
      cwd: work,
      env: childEnv({ GIT_CONFIG_GLOBAL: '/dev/null' }),
    });

  before(async () => {
    farm = await startDebianFarm('push-apt');
    await farm.admin.json('PATCH', `/api/v1/workspaces/${workspace}`, { public: true });
    await farm.admin.json('POST', `/api/v1/workspaces/${workspace}/repositories`, {
      name: 'main',
      suites: [{ codename: 'bookworm', suite: 'stable', architectures: ['amd64'] }],
    });
    await farm.admin.json('POST', `/api/v1/workspaces/${workspace}/workflows`, {
      name: 'deb',
      workflow: 'debian-pipeline',
      parameters: { repository: 'main', suite: 'bookworm', architectures: ['amd64'] },
    });
    const key = await text(
      await farm.admin.download(`/api/v1/workspaces/${workspace}/repositories/main/key`),
    );
    apt = await createAptClient(join(farm.root, 'apt'), {
      uri: `${farm.admin.server}/repos/${workspace}/main`,
      suite: 'bookworm',
      components: ['main'],
      architectures: ['amd64'],
      key,
    });
    await markLibcInstalled(apt);

    const bare = join(farm.root, `${name}.git`);
    work = await makeDebianFixture(join(farm.root, name), { name });
    await exec('git', ['init', '--bare', '-q', bare]);
    const installed = await runKiln(
      [
        '--server',
        farm.admin.server,
        '--token',
        farm.adminToken,
        'hook',
        'install',
        bare,
        '--workspace',
        workspace,
        '--template',
        'deb',
        '--ref',
        'refs/heads/main',
      ],
      { env: childEnv({ XDG_CONFIG_HOME: join(farm.root, 'config') }) },
    );
    assert.equal(installed.code, 0, installed.stderr);
    await git('remote', 'add', 'origin', bare);
  });
  after(async () => {
    await farm.close();
  });

  /** Pushes main; returns the run the hook started, once it has ended. */
  async function pushToEnd(): Promise<Run> {
    const { stdout: commit } = await git('rev-parse', 'HEAD');
    const pushed = await git('push', '-q', 'origin', 'main');
    const started = /kiln: run (\d+) started for refs\/heads\/main/.exec(pushed.stderr);
    assert.ok(started, `the pusher is told of the run: ${pushed.stderr}`);
    const run = await waitUntil(
      `run ${started[1]} to end`,
      async () => {
        const run = await farm.admin.json<Run>('GET', `/api/v1/runs/${started[1]}`);
        return run.status === 'running' ? undefined : run;
      },
      { timeoutMs: 900_000, intervalMs: 500 },
    );
    assert.equal(run.result, 'success', JSON.stringify(run));
    assert.equal(run.trigger.kind, 'git-hook');
    assert.equal(run.trigger.details?.commit, commit.trim());
    return run;
  }

  it('a push publishes the package and apt-get installs it; a bumped push upgrades it', async () => {
    const first = await pushToEnd();
    assert.deepEqual(
      first.tasks.map((t) => t.step),
      ['source', 'binary:amd64', 'publish'],
    );
    await apt.update();
    await apt.install(name);
    assert.equal(await apt.installed(name), '1.0');

    const changelog = join(work, 'debian', 'changelog');
    const entry =
      `${name} (1.1) unstable; urgency=medium\n\n  * A bumped version.\n\n` +
      ' -- kiln tests <kiln@localhost>  Tue, 24 Nov 2026 12:00:00 +0000\n\n';
    await writeFile(changelog, entry + (await readFile(changelog, 'utf8')));
    await git('commit', '-q', '-a', '-m', `${name} 1.1`);
    await pushToEnd();
    await apt.update();
    assert.equal(await apt.candidate(name), '1.1');
    await apt.install(name);
    assert.equal(await apt.installed(name), '1.1', 'apt-get upgraded to the pushed version');
  });
});
