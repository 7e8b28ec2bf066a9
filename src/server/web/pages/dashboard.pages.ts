import { Type } from 'typebox';
import type { TaskState } from '../../../protocol/tasks.schema.ts';
import type { App } from '../../http/types.ts';
import { toTaskSummary } from '../../scheduler/task-view.ts';
import { listWorkers } from '../../scheduler/worker.service.ts';
import { html, type Html } from '../html.ts';
import { page } from '../layout.ts';
import {
  countUnfinishedByArchitecture,
  countUnfinishedByWorkspace,
  listVisibleFailures,
  listVisiblePending,
  listVisibleRunning,
  type StateCount,
} from '../overview.repository.ts';
import type { Web, WebDeps } from '../web.routes.ts';
import { taskTable } from './task-views.ts';

const hide = { hide: true } as const;
const unfinished: readonly TaskState[] = ['running', 'pending', 'blocked'];

/** Counts per key and state, as a table linking each key to the queue filtered by it. */
function countTable(
  title: string,
  counts: readonly StateCount[],
  link: (key: string) => string,
): Html {
  const keys = [...new Set(counts.map((c) => c.key))];
  const n = (key: string, state: TaskState) =>
    counts.find((c) => c.key === key && c.state === state)?.n ?? 0;
  return html`<div class="scroll">
    <table class="counts">
      <caption>
        ${title}
      </caption>
      <thead>
        <tr>
          <th></th>
          ${unfinished.map((s) => html`<th class="num">${s}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${
          keys.length === 0
            ? html`<tr>
                <td colspan="4" class="empty">nothing queued</td>
              </tr>`
            : keys.map(
                (k) =>
                  html`<tr>
                    <th scope="row"><a href="${link(k)}">${k}</a></th>
                    ${unfinished.map((s) => html`<td class="num">${n(k, s)}</td>`)}
                  </tr>`,
              )
        }
      </tbody>
    </table>
  </div>`;
}

export function registerDashboardPages(web: App, deps: WebDeps, view: Web): void {
  const { db } = deps.scheduler;

  web.get('/', { schema: hide }, async (request, reply) => {
    const actor = request.actor;
    const [running, failures, byArchitecture, workers] = await Promise.all([
      listVisibleRunning(db, actor, 50),
      listVisibleFailures(db, actor, 10),
      countUnfinishedByArchitecture(db, actor),
      listWorkers(deps.scheduler, actor),
    ]);
    const online = workers.filter((w) => w.online);
    const total = (state: TaskState) =>
      byArchitecture.filter((c) => c.state === state).reduce((sum, c) => sum + c.n, 0);
    return view.send(
      reply,
      page(
        view.context(request),
        'Dashboard',
        html`<ul class="stats">
            <li>
              <a href="/queue"><strong>${total('running')}</strong> running</a>
            </li>
            <li>
              <a href="/queue"><strong>${total('pending')}</strong> queued</a>
            </li>
            <li>
              <a href="/queue"><strong>${total('blocked')}</strong> waiting on others</a>
            </li>
            <li>
              <a href="/workers"
                ><strong>${online.length}</strong> of ${workers.length} workers online</a
              >
            </li>
          </ul>
          <h2>Running</h2>
          ${taskTable(
            running.map((r) => toTaskSummary(r)),
            { workspace: true, empty: 'Nothing is running.' },
          )}
          <h2>Recent failures</h2>
          ${taskTable(
            failures.map((r) => toTaskSummary(r)),
            { workspace: true, empty: 'No failures.' },
          )}
          <h2>Workers online</h2>
          ${
            online.length === 0
              ? html`<p class="empty">No worker is online.</p>`
              : html`<ul class="inline-list">
                  ${online.map((w) => html`<li>${w.name} <small>${w.architectures.join(' ')}, ${w.running.length} running</small></li>`)}
                </ul>`
          }`,
      ),
    );
  });

  web.get(
    '/queue',
    {
      schema: {
        ...hide,
        querystring: Type.Object({
          architecture: Type.Optional(Type.String({ maxLength: 32 })),
          workspace: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      },
    },
    async (request, reply) => {
      const actor = request.actor;
      const { architecture, workspace } = request.query;
      const [byArchitecture, byWorkspace, pending] = await Promise.all([
        countUnfinishedByArchitecture(db, actor),
        countUnfinishedByWorkspace(db, actor),
        listVisiblePending(db, actor, { architecture, workspace, limit: 100 }),
      ]);
      const filtered = [architecture, workspace].filter((x) => x !== undefined).join(', ');
      return view.send(
        reply,
        page(
          view.context(request),
          'Queue',
          html`<div class="columns">
              ${countTable('Per architecture', byArchitecture, (k) => `/queue?architecture=${encodeURIComponent(k)}`)}
              ${countTable('Per workspace', byWorkspace, (k) => `/queue?workspace=${encodeURIComponent(k)}`)}
            </div>
            <h2>
              Next to
              run${filtered === '' ? '' : html` (${filtered}) <a href="/queue" class="small">all</a>`}
            </h2>
            <p class="hint">
              Highest score first; a task's place also grows with the time it waits, and workspaces
              share workers fairly.
            </p>
            ${taskTable(
              pending.map((r) => toTaskSummary(r)),
              { workspace: true, score: true, empty: 'The queue is empty.' },
            )}`,
        ),
      );
    },
  );
}
