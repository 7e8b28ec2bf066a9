import { Type } from 'typebox';
import { IdParams, Offset } from '../../../protocol/common.schema.ts';
import { taskStates } from '../../../protocol/tasks.schema.ts';
import { WorkspaceParams } from '../../../protocol/workspaces.schema.ts';
import { KilnError } from '../../../protocol/errors.ts';
import { isAdmin, type Actor } from '../../auth/actor.ts';
import type { App } from '../../http/types.ts';
import { streamTaskLog } from '../../scheduler/log-reader.ts';
import {
  cancelTask,
  listTasks,
  retryTask,
  setTaskPriority,
  authorizeTask,
  showTask,
} from '../../scheduler/task.service.ts';
import { explainTask } from '../../scheduler/why.ts';
import { html } from '../html.ts';
import { csrfField, page, pager, type PageContext } from '../layout.ts';
import { openEventStream } from '../sse.ts';
import type { FormBody, Web, WebDeps } from '../web.routes.ts';
import { taskFacts, taskTable, whyList } from './task-views.ts';

const pageSize = 50;
const hide = { hide: true } as const;

function actions(ctx: PageContext, id: number, ended: boolean, priority: number) {
  if (ctx.actor.kind !== 'user') {
    return '';
  }
  return html`<div class="actions">
    ${ended ? '' : html`<form method="post" action="/tasks/${id}/cancel">${csrfField(ctx)}<button type="submit" class="danger">Cancel</button></form>`}
    <form method="post" action="/tasks/${id}/retry">
      ${csrfField(ctx)}<button type="submit">Retry</button>
    </form>
    ${
      isAdmin(ctx.actor)
        ? html`<form method="post" action="/tasks/${id}/priority" class="inline">
            ${csrfField(ctx)}
            <label
              >Priority
              <input
                name="priority"
                type="number"
                min="-10000"
                max="10000"
                value="${priority}"
                size="6"
            /></label>
            <button type="submit">Set</button>
          </form>`
        : ''
    }
  </div>`;
}

export function registerTaskPages(web: App, deps: WebDeps, view: Web): void {
  const tasks = deps.scheduler;
  const closing = new AbortController();
  web.addHook('preClose', async () => {
    closing.abort();
  });

  web.get(
    '/workspaces/:workspace/tasks',
    {
      schema: {
        ...hide,
        params: WorkspaceParams,
        querystring: Type.Object({
          state: Type.Optional(Type.Union([Type.Enum(taskStates), Type.Literal('')])),
          type: Type.Optional(Type.String({ maxLength: 100 })),
          offset: Type.Optional(Offset),
        }),
      },
    },
    async (request, reply) => {
      const { workspace } = request.params;
      const { state, type, offset = 0 } = request.query;
      // Ten pages ahead are counted, not the whole history: a page of a
      // workspace with 100,000 tasks stays fast.
      const countUpTo = offset + 10 * pageSize + 1;
      const found = await listTasks(tasks, request.actor, workspace, {
        state: state === '' ? undefined : state,
        type: type === '' ? undefined : type,
        limit: pageSize,
        offset,
        countUpTo,
      });
      const paging = { offset, limit: pageSize, total: found.total, countedUpTo: countUpTo };
      const params = new URLSearchParams({ state: state ?? '', type: type ?? '' });
      const base = `/workspaces/${encodeURIComponent(workspace)}/tasks`;
      const ctx = view.context(request);
      return view.send(
        reply,
        page(
          ctx,
          `Tasks of ${workspace}`,
          html`<form method="get" action="${base}" class="filters">
              <label
                >State
                <select name="state">
                  <option value="">any</option>
                  ${taskStates.map(
                    (s) => html`<option${s === state ? html` selected` : ''}>${s}</option>`,
                  )}
                </select></label
              >
              <label>Type <input name="type" value="${type ?? ''}" size="12" /></label>
              <button type="submit">Filter</button>
            </form>
            ${pager(base, params, paging)} ${taskTable(found.items)} ${pager(base, params, paging)}`,
        ),
      );
    },
  );

  web.get('/tasks/:id', { schema: { ...hide, params: IdParams } }, async (request, reply) => {
    const task = await showTask(tasks, request.actor, request.params.id);
    const why = await explainTask(tasks, request.actor, task.id);
    const ctx = view.context(request);
    const ended = task.state === 'completed' || task.state === 'cancelled';
    return view.send(
      reply,
      page(
        ctx,
        `Task #${task.id}`,
        html`${actions(ctx, task.id, ended, task.priority)}
          <section aria-labelledby="why-title">
            <h2 id="why-title">
              Why it is
              ${task.state === 'pending' || task.state === 'blocked' ? 'not running' : task.state}
            </h2>
            ${whyList(why)}
          </section>
          ${taskFacts(task)}
          <section
            class="log"
            aria-labelledby="log-title"
            data-log="/tasks/${task.id}/log/events"
            data-ended="${String(ended)}"
          >
            <h2 id="log-title">Log</h2>
            <div class="log-tools">
              <label
                >Search <input type="search" class="log-search" placeholder="text in the log"
              /></label>
              <label><input type="checkbox" class="log-errors" /> only errors</label>
              <a href="/tasks/${task.id}/log.txt" download>Download</a>
              <span class="log-status" role="status">${ended ? 'loading…' : 'live'}</span>
            </div>
            <pre class="log-text" tabindex="0" aria-label="Task log"></pre>
            <noscript
              ><p><a href="/tasks/${task.id}/log.txt">Read the log as text</a></p></noscript
            >
          </section>`,
      ),
    );
  });

  web.get(
    '/tasks/:id/log.txt',
    { schema: { ...hide, params: IdParams } },
    async (request, reply) => {
      const { id } = request.params;
      const abort = new AbortController();
      reply.raw.on('close', () => {
        abort.abort();
      });
      const state = { started: false };
      await streamTaskLog(
        tasks,
        deps.logFollowers,
        request.actor,
        id,
        { follow: false, signal: abort.signal },
        async (text) => {
          if (!state.started) {
            state.started = true;
            reply.hijack();
            reply.raw.writeHead(200, {
              'content-type': 'text/plain; charset=utf-8',
              'content-disposition': `attachment; filename="task-${id}.log"`,
            });
          }
          if (!reply.raw.write(text)) {
            await new Promise((resolve) => reply.raw.once('drain', resolve));
          }
        },
      );
      if (!state.started) {
        return reply
          .type('text/plain; charset=utf-8')
          .header('content-disposition', `attachment; filename="task-${id}.log"`)
          .send('');
      }
      reply.raw.end();
      return reply;
    },
  );

  web.get(
    '/tasks/:id/log/events',
    { schema: { ...hide, params: IdParams } },
    async (request, reply) => {
      // Refusals are pages; once the stream is open only events follow.
      await authorizeTask(tasks.db, request.actor, request.params.id, 'read');
      const stream = openEventStream(reply, closing.signal);
      try {
        await streamTaskLog(
          tasks,
          deps.logFollowers,
          request.actor,
          request.params.id,
          { follow: true, signal: stream.signal },
          (text) => stream.send('log', text),
        );
      } catch (error) {
        // The headers are sent: the stream can only end, with the error in the server's log.
        request.log.warn({ err: error }, 'log stream failed');
      }
      return stream.end();
    },
  );

  const change = (
    path: string,
    act: (actor: Actor, id: number, form: FormBody) => Promise<unknown>,
  ) => {
    web.post(path, { schema: { ...hide, params: IdParams } }, async (request, reply) => {
      await act(request.actor, request.params.id, (request.body ?? {}) as FormBody);
      return reply.redirect(`/tasks/${request.params.id}`, 303);
    });
  };
  change('/tasks/:id/cancel', (actor, id) => cancelTask(tasks, actor, id));
  change('/tasks/:id/retry', (actor, id) => retryTask(tasks, actor, id));
  change('/tasks/:id/priority', (actor, id, form) =>
    setTaskPriority(tasks, actor, id, parsePriority(form['priority'])),
  );
}

function parsePriority(value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || Math.abs(n) > 10000) {
    throw new KilnError('validation_failed', 'the priority is a whole number from -10000 to 10000');
  }
  return n;
}
