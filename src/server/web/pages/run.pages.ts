import { Type } from 'typebox';
import { IdParams, Offset } from '../../../protocol/common.schema.ts';
import { KilnError } from '../../../protocol/errors.ts';
import { runStatuses, type Run, type RunTask } from '../../../protocol/workflows.schema.ts';
import { WorkspaceParams } from '../../../protocol/workspaces.schema.ts';
import type { App } from '../../http/types.ts';
import {
  cancelRun,
  listRuns,
  listWorkflowTemplates,
  retryRun,
  showRun,
  startWorkflowRun,
} from '../../workflows/workflow.service.ts';
import { html, type Html } from '../html.ts';
import { csrfField, page, pager, stateBadge, time, type PageContext } from '../layout.ts';
import type { FormBody, Web, WebDeps } from '../web.routes.ts';

const hide = { hide: true } as const;
const pageSize = 50;

/**
 * A run's tasks as a graph in columns: a task stands one column right of the
 * latest of the tasks it depends on, so every edge points rightwards.
 */
function taskGraph(tasks: readonly RunTask[]): Html {
  const depth = new Map<number, number>();
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const depthOf = (task: RunTask, seen: ReadonlySet<number>): number => {
    const known = depth.get(task.id);
    if (known !== undefined) {
      return known;
    }
    const parents = task.depends_on
      .map((id) => byId.get(id))
      .filter((t): t is RunTask => t !== undefined && !seen.has(t.id));
    const d = Math.max(-1, ...parents.map((p) => depthOf(p, new Set([...seen, task.id])))) + 1;
    depth.set(task.id, d);
    return d;
  };
  const columns: RunTask[][] = [];
  for (const task of tasks) {
    const d = depthOf(task, new Set());
    (columns[d] ??= []).push(task);
  }
  const step = (id: number) => byId.get(id)?.step ?? `#${id}`;
  return html`<ol class="graph" aria-label="Task graph">
    ${columns.map(
      (column, i) =>
        html`<li>
          <span class="stage">stage ${i + 1}</span>
          <ul>
            ${column.map(
              (t) =>
                html`<li class="node ${t.result ?? t.state}">
                  <a href="/tasks/${t.id}">${t.step}</a> ${stateBadge(t.state, t.result)}
                  <small
                    >${t.type}${t.architecture === null ? '' : ` · ${t.architecture}`}${t.retries > 0 ? ` · retried ${t.retries}` : ''}</small
                  >
                  ${t.depends_on.length === 0 ? '' : html`<small class="after">after ${t.depends_on.map(step).join(', ')}</small>`}
                </li>`,
            )}
          </ul>
        </li>`,
    )}
  </ol>`;
}

function runActions(ctx: PageContext, run: Run): Html | string {
  if (ctx.actor.kind !== 'user') {
    return '';
  }
  return html`<div class="actions">
    ${run.status === 'running' ? html`<form method="post" action="/runs/${run.id}/cancel">${csrfField(ctx)}<button type="submit" class="danger">Cancel run</button></form>` : ''}
    ${run.status === 'running' && run.failed_tasks.length === 0 ? '' : html`<form method="post" action="/runs/${run.id}/retry">${csrfField(ctx)}<button type="submit">Retry failed tasks</button></form>`}
  </div>`;
}

function parseParameters(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined || text.trim() === '') {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KilnError('validation_failed', 'the parameters are not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KilnError('validation_failed', 'the parameters are a JSON object');
  }
  return value as Record<string, unknown>;
}

export function registerRunPages(web: App, deps: WebDeps, view: Web): void {
  const workflows = deps.workflows;

  web.get(
    '/workspaces/:workspace/runs',
    {
      schema: {
        ...hide,
        params: WorkspaceParams,
        querystring: Type.Object({
          status: Type.Optional(Type.Union([Type.Enum(runStatuses), Type.Literal('')])),
          template: Type.Optional(Type.String({ maxLength: 64 })),
          offset: Type.Optional(Offset),
        }),
      },
    },
    async (request, reply) => {
      const { workspace } = request.params;
      const { status, template, offset = 0 } = request.query;
      const [found, templates] = await Promise.all([
        listRuns(workflows, request.actor, workspace, {
          status: status === '' ? undefined : status,
          template: template === '' ? undefined : template,
          limit: pageSize,
          offset,
        }),
        listWorkflowTemplates(workflows, request.actor, workspace),
      ]);
      const ctx = view.context(request);
      const base = `/workspaces/${encodeURIComponent(workspace)}/runs`;
      const params = new URLSearchParams({ status: status ?? '', template: template ?? '' });
      return view.send(
        reply,
        page(
          ctx,
          `Runs of ${workspace}`,
          html`${
              ctx.actor.kind === 'user' && templates.length > 0
                ? html`<details class="start">
                    <summary>Start a run</summary>
                    <form method="post" action="${base}" class="stack">
                      ${csrfField(ctx)}
                      <label
                        >Template
                        <select name="template">
                          ${templates.map((t) => html`<option value="${t.name}">${t.name} (${t.workflow})</option>`)}
                        </select></label
                      >
                      <label
                        >Parameters (JSON, merged with the template's)
                        <textarea name="parameters" rows="4" placeholder="{}"></textarea>
                      </label>
                      <button type="submit">Start run</button>
                    </form>
                  </details>`
                : ''
            }
            <form method="get" action="${base}" class="filters">
              <label
                >Status
                <select name="status">
                  <option value="">any</option>
                  ${runStatuses.map((s) => html`<option${s === status ? html` selected` : ''}>${s}</option>`)}
                </select></label
              >
              <label
                >Template
                <select name="template">
                  <option value="">any</option>
                  ${templates.map((t) => html`<option${t.name === template ? html` selected` : ''}>${t.name}</option>`)}
                </select></label
              >
              <button type="submit">Filter</button>
            </form>
            ${pager(base, params, { offset, limit: pageSize, total: found.total })}
            ${
              found.items.length === 0
                ? html`<p class="empty">No runs.</p>`
                : html`<div class="scroll">
                    <table class="runs">
                      <thead>
                        <tr>
                          <th>Run</th>
                          <th>Template</th>
                          <th>Status</th>
                          <th>Trigger</th>
                          <th>By</th>
                          <th>Started</th>
                          <th>Ended</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${found.items.map(
                          (r) =>
                            html`<tr>
                              <td><a href="/runs/${r.id}">#${r.id}</a></td>
                              <td>${r.template}</td>
                              <td>${stateBadge(r.status, r.result)}</td>
                              <td>${r.trigger.kind}</td>
                              <td>${r.created_by ?? '–'}</td>
                              <td>${time(r.created_at)}</td>
                              <td>${time(r.completed_at)}</td>
                            </tr>`,
                        )}
                      </tbody>
                    </table>
                  </div>`
            }`,
        ),
      );
    },
  );

  web.post(
    '/workspaces/:workspace/runs',
    { schema: { ...hide, params: WorkspaceParams } },
    async (request, reply) => {
      const form = (request.body ?? {}) as FormBody;
      const run = await startWorkflowRun(workflows, request.actor, {
        workspace: request.params.workspace,
        template: form['template'] ?? '',
        parameters: parseParameters(form['parameters']),
        trigger: { kind: 'web' },
      });
      return reply.redirect(`/runs/${run.id}`, 303);
    },
  );

  web.get('/runs/:id', { schema: { ...hide, params: IdParams } }, async (request, reply) => {
    const run = await showRun(workflows, request.actor, request.params.id);
    const ctx = view.context(request);
    return view.send(
      reply,
      page(
        ctx,
        `Run #${run.id}`,
        html`${runActions(ctx, run)}
          <dl class="facts">
            <dt>Status</dt>
            <dd id="run-status">
              ${stateBadge(run.status, run.result)}${run.message === null ? '' : html` — ${run.message}`}
            </dd>
            <dt>Workspace</dt>
            <dd>
              <a href="/workspaces/${encodeURIComponent(run.workspace)}/runs">${run.workspace}</a>
            </dd>
            <dt>Template</dt>
            <dd>${run.template} (${run.workflow})</dd>
            <dt>Trigger</dt>
            <dd>${run.trigger.kind} by ${run.created_by ?? 'nobody'}</dd>
            <dt>Started</dt>
            <dd>${time(run.created_at)}</dd>
            <dt>Ended</dt>
            <dd>${time(run.completed_at)}</dd>
            ${
              run.superseded_by === null
                ? ''
                : html`<dt>Superseded by</dt>
                    <dd><a href="/runs/${run.superseded_by}">#${run.superseded_by}</a></dd>`
            }
            ${
              run.parent_run === null
                ? ''
                : html`<dt>Started by run</dt>
                    <dd><a href="/runs/${run.parent_run}">#${run.parent_run}</a></dd>`
            }
            ${
              run.artifact === null
                ? ''
                : html`<dt>Artifact</dt>
                    <dd><a href="/artifacts/${run.artifact}">#${run.artifact}</a></dd>`
            }
            <dt>Failed tasks</dt>
            <dd>
              ${run.failed_tasks.length === 0 ? '–' : run.failed_tasks.map((id) => html`<a href="/tasks/${id}">#${id}</a> `)}
            </dd>
          </dl>
          <details>
            <summary>Parameters</summary>
            <pre>${JSON.stringify(run.parameters, null, 2)}</pre>
          </details>
          <h2>Tasks</h2>
          ${run.tasks.length === 0 ? html`<p class="empty">No tasks yet.</p>` : taskGraph(run.tasks)}`,
      ),
    );
  });

  for (const [action, act] of [
    ['cancel', cancelRun],
    ['retry', retryRun],
  ] as const) {
    web.post(
      `/runs/:id/${action}`,
      { schema: { ...hide, params: IdParams } },
      async (request, reply) => {
        await act(workflows, request.actor, request.params.id);
        return reply.redirect(`/runs/${request.params.id}`, 303);
      },
    );
  }
}
