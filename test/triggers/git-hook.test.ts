/**
 * The git hook end to end: `kiln hook install` (the real CLI) puts kiln's
 * post-receive hook in a real bare repository; a real `git push` runs it, its
 * curl tells the server (over 127.0.0.1), a run of the template starts with
 * the pushed commit, and completes when its task does. A push to a ref the
 * filter does not match starts nothing, and says so to the pusher.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { childEnv, runKiln } from '../helpers/processes.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { registerTemplate, waitForRunEnd } from '../helpers/workflows.ts';

const exec = promisify(execFile);

async function git(cwd: string, ...args: string[]) {
  return exec('git', args, {
    cwd,
    env: {
      ...childEnv(),
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'kiln test',
      GIT_AUTHOR_EMAIL: 'test@kiln.invalid',
      GIT_COMMITTER_NAME: 'kiln test',
      GIT_COMMITTER_EMAIL: 'test@kiln.invalid',
    },
  });
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let root: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    root = await mkdtemp(join(tmpdir(), 'kiln-hook-test-'));
  });
  after(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  test('a push through the installed hook starts a run that completes', async () => {
    const workspace = await createTaskWorkspace(cast.alice, 'pushed');
    await registerTemplate(cast.alice, workspace, {
      name: 'ci',
      workflow: 'pipeline',
      parameters: { steps: [{ name: 'build', command: 'true' }] },
    });
    const bare = join(root, 'project.git');
    const work = join(root, 'work');
    await git(root, 'init', '--bare', '-q', bare);
    const installed = await runKiln(
      [
        '--server',
        server.url,
        '--token',
        cast.tokens.alice,
        'hook',
        'install',
        bare,
        '--workspace',
        workspace,
        '--template',
        'ci',
        '--ref',
        'refs/heads/main',
      ],
      { env: childEnv({ XDG_CONFIG_HOME: join(root, 'config') }) },
    );
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stdout, /Hook installed/);
    assert.equal((await stat(join(bare, 'kiln-hook.headers'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(bare, 'hooks', 'post-receive'))).mode & 0o777, 0o755);

    await git(root, 'init', '-q', '-b', 'main', work);
    await git(work, 'commit', '-q', '--allow-empty', '-m', 'first');
    const { stdout: commit } = await git(work, 'rev-parse', 'HEAD');
    await git(work, 'remote', 'add', 'origin', bare);
    const pushed = await git(work, 'push', '-q', 'origin', 'main');
    const started = /kiln: run (\d+) started for refs\/heads\/main/.exec(pushed.stderr);
    assert.ok(started, `the pusher is told: ${pushed.stderr}`);
    const runId = Number(started[1]);

    const worker = await enrolWorker(server, `hook-worker-${backend.name}`);
    await finish(await worker.claimOrFail(20));
    const run = await waitForRunEnd(cast.alice, runId);
    assert.deepEqual([run.status, run.result], ['completed', 'success']);
    assert.equal(run.trigger.kind, 'git-hook');
    assert.equal(run.trigger.details.commit, commit.trim());
    assert.equal(run.trigger.details.url, bare);

    const other = await git(work, 'push', '-q', 'origin', 'main:feature');
    assert.match(other.stderr, /kiln: refs\/heads\/feature: no ref filter/);
    const runs = await cast.alice.get(`/api/v1/workspaces/${workspace}/runs`);
    assertStatus(runs, 200);
    assert.equal(runs.body.items.length, 1, 'the feature branch started nothing');

    // A wrong token is refused and starts nothing, and the push itself still succeeds.
    await exec('sh', ['-c', `echo 'X-Kiln-Hook-Token: kiln_h_wrong' > ${bare}/kiln-hook.headers`]);
    await git(work, 'commit', '-q', '--allow-empty', '-m', 'second');
    const refused = await git(work, 'push', '-q', 'origin', 'main');
    assert.match(refused.stderr, /kiln: .*invalid_signature/);
    const after = await cast.alice.get(`/api/v1/workspaces/${workspace}/runs`);
    assert.equal(after.body.items.length, 1);
  });
});
