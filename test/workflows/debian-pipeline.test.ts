import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { RepoPackage } from '../../src/protocol/repos.schema.ts';
import type { Run } from '../../src/protocol/workflows.schema.ts';
import { createAptClient, markLibcInstalled } from '../helpers/apt.ts';
import { makeDebianFixture } from '../helpers/debian-fixture.ts';
import { startDebianFarm, workspace, type DebianFarm } from '../helpers/debian-farm.ts';
import { describeDebian } from '../helpers/debian-images.ts';
import { waitUntil } from '../helpers/waits.ts';

/**
 * Real debian-pipeline runs: a real server and worker, real git, real
 * dpkg-buildpackage (arm64 by cross-building on amd64), a real apt-get.
 * Three binary builds in all, to keep the suite fast.
 */
await describeDebian('debian-pipeline runs', () => {
  let farm: DebianFarm;
  let key: string;
  before(async () => {
    farm = await startDebianFarm('flow-deb');
    // apt reads the repository anonymously.
    await farm.admin.json('PATCH', `/api/v1/workspaces/${workspace}`, { public: true });
    await farm.admin.json('POST', `/api/v1/workspaces/${workspace}/repositories`, {
      name: 'main',
      suites: [{ codename: 'bookworm', suite: 'stable', architectures: ['amd64', 'arm64'] }],
    });
    const response = await farm.admin.download(
      `/api/v1/workspaces/${workspace}/repositories/main/key`,
    );
    key = await text(response);
    await farm.admin.json('POST', `/api/v1/workspaces/${workspace}/workflows`, {
      name: 'deb',
      workflow: 'debian-pipeline',
      parameters: { repository: 'main', suite: 'bookworm', cross: { arm64: 'amd64' } },
    });
  });
  after(async () => {
    await farm.close();
  });

  async function runToEnd(parameters: object): Promise<Run> {
    const started = await farm.admin.json<Run>('POST', `/api/v1/workspaces/${workspace}/runs`, {
      template: 'deb',
      parameters,
    });
    return waitUntil(
      `run ${started.id} to end`,
      async () => {
        const run = await farm.admin.json<Run>('GET', `/api/v1/runs/${started.id}`);
        return run.status === 'running' ? undefined : run;
      },
      { timeoutMs: 900_000, intervalMs: 500 },
    );
  }

  const packages = async () =>
    (
      await farm.admin.json<{ items: RepoPackage[] }>(
        'GET',
        `/api/v1/workspaces/${workspace}/repositories/main/packages`,
      )
    ).items;

  it('an arm64 build that fails: the run fails, names that task, publishes nothing for arm64', async () => {
    const repo = await makeDebianFixture(join(farm.root, 'armfail-kiln'), {
      name: 'armfail-kiln',
      program:
        '#include <stdio.h>\n#ifdef __aarch64__\n#error kiln breaks on arm64\n#endif\nint main(void) { puts("hello"); return 0; }\n',
    });
    const run = await runToEnd({ url: repo, ref: 'main' });
    const steps = Object.fromEntries(run.tasks.map((t) => [t.step, `${t.state}/${t.result}`]));
    assert.deepEqual(
      steps,
      {
        source: 'completed/success',
        'binary:amd64': 'completed/success',
        'binary:arm64': 'completed/failure',
        publish: 'completed/success',
      },
      JSON.stringify(run),
    );
    const arm64 = run.tasks.find((t) => t.step === 'binary:arm64');
    assert.equal(run.status, 'completed');
    assert.equal(run.result, 'failure');
    assert.deepEqual(run.failed_tasks, [arm64?.id]);
    assert.match(run.message ?? '', new RegExp(`^binary:arm64 \\(task ${arm64?.id}\\) failed`));
    const published = (await packages()).filter((p) => p.source === 'armfail-kiln');
    // (the package and its -dbgsym are both binary:amd64)
    assert.deepEqual(
      [...new Set(published.map((p) => `${p.kind}:${p.architecture}`))].sort(),
      ['binary:amd64', 'source:source'],
      'amd64 and the source are published, nothing for arm64',
    );
  });

  it('a run from a local git repository completes, and apt-get installs the package', async () => {
    const repo = await makeDebianFixture(join(farm.root, 'flow-kiln'), { name: 'flow-kiln' });
    const run = await runToEnd({ url: repo, ref: 'main', architectures: ['amd64'] });
    assert.equal(run.result, 'success', JSON.stringify(run));
    assert.deepEqual(
      run.tasks.map((t) => t.step),
      ['source', 'binary:amd64', 'publish'],
    );
    const apt = await createAptClient(join(farm.root, 'apt'), {
      uri: `${farm.admin.server}/repos/${workspace}/main`,
      suite: 'bookworm',
      components: ['main'],
      architectures: ['amd64'],
      key,
    });
    await markLibcInstalled(apt);
    await apt.update();
    await apt.install('flow-kiln');
    assert.equal(await apt.installed('flow-kiln'), '1.0');
  });
});
