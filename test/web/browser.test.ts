import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import { launchBrowser, logInPage, saveScreenshot } from '../helpers/browser.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createTaskWorkspace,
  enrolWorker,
  finish,
  getTask,
  submitTask,
  uniqueName,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { getRun, registerTemplate } from '../helpers/workflows.ts';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser.close();
});

forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let workspace: string;
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => saveScreenshot(page, `${backend.name}-${name}`);

  before(async () => {
    server = await startTestServer(backend);
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    await createUserWithToken(server, 'bob');
    workspace = await createTaskWorkspace(alice, 'web');
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    await logInPage(page, server.url, 'alice');
  });
  after(async () => {
    await context.close();
    await server.close();
  });

  it('logs in and shows the dashboard with the user', async () => {
    await page.goto(`${server.url}/`);
    await assert.doesNotReject(page.getByRole('heading', { name: 'Dashboard' }).waitFor());
    assert.equal(await page.locator('.who').textContent(), 'alice');
    await shot('dashboard');
  });

  it("follows a running task's log live, highlights errors, and searches it", async () => {
    const task = await submitTask(alice, workspace);
    const worker = await enrolWorker(server, uniqueName('web'));
    const claimed = await worker.claimOrFail(5);
    assert.equal(claimed.id, task.id);
    await claimed.log('configure\n');
    await page.goto(`${server.url}/tasks/${task.id}`);
    const log = page.locator('.log-text');
    await log.getByText('configure').waitFor();
    await page.locator('.log-status', { hasText: 'live' }).waitFor();
    // Lines posted after the page loaded arrive without a reload.
    await claimed.log('make all\nerror: something broke\n');
    await log.getByText('make all').waitFor();
    assert.equal(await log.locator('.err').textContent(), 'error: something broke\n');
    await page.getByLabel('Search').fill('make');
    assert.equal(await log.locator('span:not(.hidden)').count(), 1);
    await page.getByLabel('Search').fill('');
    await shot('task-running');
    await finish(claimed, 'failure');
    await page.locator('.log-status', { hasText: 'complete, 3 lines' }).waitFor();
    await page.locator('#task-state', { hasText: 'completed: failure' }).waitFor();
    const download = await page.request.get(`${server.url}/tasks/${task.id}/log.txt`);
    assert.equal(await download.text(), 'configure\nmake all\nerror: something broke\n');
  });

  it('says why a task no worker can take is pending, and cancels it', async () => {
    await enrolWorker(server, uniqueName('amd64'));
    const task = await submitTask(alice, workspace, { requirements: { architecture: 's390x' } });
    await page.goto(`${server.url}/tasks/${task.id}`);
    const why = page.locator('#why');
    await why.locator('[data-code="no-worker-for-architecture"]').waitFor();
    assert.match((await why.textContent()) ?? '', /no online worker runs architecture s390x/);
    await shot('task-pending');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#task-state', { hasText: 'cancelled' }).waitFor();
    assert.equal((await getTask(alice, task.id)).state, 'cancelled');
  });

  it('starts a run of a template from its page and shows its task graph', async () => {
    await registerTemplate(alice, workspace, {
      name: 'two-steps',
      workflow: 'pipeline',
      parameters: {
        steps: [
          { name: 'build', command: 'true' },
          { name: 'test', command: 'true', depends_on: ['build'] },
        ],
      },
    });
    await page.goto(`${server.url}/workspaces/${workspace}/runs`);
    await page.getByText('Start a run').click();
    await page.getByLabel('Template').first().selectOption('two-steps');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/runs\/\d+$/);
    const graph = page.getByRole('list', { name: 'Task graph' });
    const stages = graph.locator(':scope > li');
    assert.equal(await stages.count(), 2);
    assert.match((await stages.nth(0).textContent()) ?? '', /build[\s\S]*pending/);
    assert.match((await stages.nth(1).textContent()) ?? '', /test[\s\S]*blocked/);
    const id = Number(/\/runs\/(\d+)$/.exec(page.url())?.[1]);
    assert.equal((await getRun(alice, id)).trigger.kind, 'web');
    await shot('run');
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.locator('#run-status', { hasText: 'aborted' }).waitFor();
    await page.goto(`${server.url}/workspaces/${workspace}/runs`);
    await shot('runs');
  });

  it('lists tasks with filters and pages, and shows the other main pages', async () => {
    await page.goto(`${server.url}/workspaces/${workspace}/tasks?state=cancelled`);
    const rows = page.locator('table.tasks tbody tr');
    const cancelled = await alice.get(`/api/v1/workspaces/${workspace}/tasks?state=cancelled`);
    assert.ok(cancelled.body.total > 0);
    assert.equal(await rows.count(), cancelled.body.total);
    assert.equal(await rows.locator('.badge.cancelled').count(), cancelled.body.total);
    await shot('tasks');
    for (const [path, name] of [
      ['/queue', 'queue'],
      ['/workers', 'workers'],
      [`/workspaces/${workspace}`, 'workspace'],
      ['/tokens', 'tokens'],
    ] as const) {
      const response = await page.goto(`${server.url}${path}`);
      assert.equal(response?.status(), 200, path);
      await shot(name);
    }
  });

  it("is usable at a phone's width: nothing wider than the screen", async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 740 } });
    try {
      const small = await phone.newPage();
      await logInPage(small, server.url, 'alice');
      await small.goto(`${server.url}/workspaces/${workspace}/tasks`);
      // A string, run in the page: the tests are compiled without the DOM's types.
      const overflow = await small.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
      await saveScreenshot(small, `${backend.name}-phone-tasks`);
    } finally {
      await phone.close();
    }
  });

  it('shows a non-member nothing of a private workspace, as for one that does not exist', async () => {
    const task = await submitTask(alice, workspace);
    const other = await browser.newContext();
    try {
      const bob = await other.newPage();
      await logInPage(bob, server.url, 'bob');
      const missing = await bob.goto(`${server.url}/workspaces/no-such-workspace`);
      const missingText = await bob.locator('main').textContent();
      assert.equal(missing?.status(), 404);
      for (const path of [
        `/workspaces/${workspace}`,
        `/workspaces/${workspace}/tasks`,
        `/workspaces/${workspace}/artifacts`,
      ]) {
        const response = await bob.goto(`${server.url}${path}`);
        assert.equal(response?.status(), 404, path);
        assert.equal(
          (await bob.locator('main').textContent())?.replace(workspace, 'X'),
          missingText?.replace('no-such-workspace', 'X'),
          path,
        );
      }
      for (const path of [
        `/tasks/${task.id}`,
        `/tasks/${task.id}/log.txt`,
        `/tasks/${task.id}/log/events`,
      ]) {
        const response = await bob.request.get(`${server.url}${path}`);
        assert.equal(response.status(), 404, path);
      }
      for (const path of ['/', '/queue', '/workspaces']) {
        await bob.goto(`${server.url}${path}`);
        const text = await bob.content();
        assert.ok(!text.includes(workspace), `${path} names the private workspace`);
        assert.ok(!text.includes(`/tasks/${task.id}"`), `${path} links its task`);
      }
    } finally {
      await other.close();
    }
  });
});
