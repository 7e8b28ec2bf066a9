import type { Task, TaskSummary, WhyResponse } from '../../../protocol/tasks.schema.ts';
import { html, type Html } from '../html.ts';
import { stateBadge, time } from '../layout.ts';

function requirements(task: TaskSummary): string {
  const r = task.requirements;
  return [
    r.architecture,
    r.host_architecture === undefined ? undefined : `→${r.host_architecture}`,
    r.executor,
    ...(r.tags ?? []),
  ]
    .filter((x) => x !== undefined)
    .join(' ');
}

/** A table of tasks; `columns` picks the optional ones. */
export function taskTable(
  tasks: readonly TaskSummary[],
  options: { readonly workspace?: boolean; readonly score?: boolean; readonly empty?: string } = {},
): Html {
  if (tasks.length === 0) {
    return html`<p class="empty">${options.empty ?? 'No tasks.'}</p>`;
  }
  return html`<div class="scroll">
    <table class="tasks">
      <thead>
        <tr>
          <th>Task</th>
          ${options.workspace === true ? html`<th>Workspace</th>` : ''}
          <th>Type</th>
          <th>State</th>
          ${options.score === true ? html`<th class="num">Score</th>` : ''}
          <th>Needs</th>
          <th>Worker</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        ${tasks.map(
          (t) =>
            html`<tr>
              <td><a href="/tasks/${t.id}">#${t.id}</a></td>
              ${options.workspace === true ? html`<td><a href="/workspaces/${encodeURIComponent(t.workspace)}">${t.workspace}</a></td>` : ''}
              <td>${t.type}</td>
              <td>${stateBadge(t.state, t.result)}</td>
              ${options.score === true ? html`<td class="num">${t.score}</td>` : ''}
              <td>${requirements(t)}</td>
              <td>${t.worker ?? '–'}</td>
              <td>${time(t.created_at)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** Why a task is not running, as a list of reasons with their codes. */
export function whyList(why: WhyResponse): Html {
  return html`<ul class="why" id="why">
    ${why.reasons.map(
      (r) =>
        html`<li data-code="${r.code}"><strong>${r.message}</strong> <code>${r.code}</code></li>`,
    )}
  </ul>`;
}

function seconds(from: string | null, to: string | null): string {
  if (from === null) {
    return '–';
  }
  const ms = (to === null ? Date.now() : Date.parse(to)) - Date.parse(from);
  return `${(ms / 1000).toFixed(1)} s${to === null ? ' so far' : ''}`;
}

/** The facts of one task: state, requirements, timings, worker, artifacts, attempts. */
export function taskFacts(task: Task): Html {
  const artifactLinks = (ids: readonly number[]) =>
    ids.length === 0 ? '–' : ids.map((id) => html`<a href="/artifacts/${id}">#${id}</a> `);
  return html`<dl class="facts">
      <dt>State</dt>
      <dd id="task-state">
        ${stateBadge(task.state, task.result)}${task.cancel_requested ? ' (cancel requested)' : ''}
      </dd>
      ${
        task.reason === null
          ? ''
          : html`<dt>Reason</dt>
              <dd>${task.reason}${task.message === null ? '' : html`: ${task.message}`}</dd>`
      }
      <dt>Workspace</dt>
      <dd><a href="/workspaces/${encodeURIComponent(task.workspace)}">${task.workspace}</a></dd>
      <dt>Type</dt>
      <dd>${task.type} (runs on ${task.runs_on})</dd>
      <dt>Requirements</dt>
      <dd>
        ${Object.keys(task.requirements).length === 0 ? 'none' : html`<code>${JSON.stringify(task.requirements)}</code>`}
      </dd>
      <dt>Score</dt>
      <dd>${task.score} (priority ${task.priority})</dd>
      <dt>Worker</dt>
      <dd>${task.worker ?? '–'}</dd>
      <dt>Created</dt>
      <dd>${time(task.created_at)} by ${task.created_by ?? 'nobody'}</dd>
      <dt>Started</dt>
      <dd>${time(task.started_at)}</dd>
      <dt>Completed</dt>
      <dd>${time(task.completed_at)}</dd>
      <dt>Duration</dt>
      <dd>${seconds(task.started_at, task.completed_at)}</dd>
      <dt>Depends on</dt>
      <dd>
        ${task.depends_on.length === 0 ? '–' : task.depends_on.map((id) => html`<a href="/tasks/${id}">#${id}</a> `)}
      </dd>
      <dt>Inputs</dt>
      <dd>${artifactLinks(task.inputs)}</dd>
      <dt>Outputs</dt>
      <dd>${artifactLinks(task.outputs)}</dd>
      <dt>Log artifact</dt>
      <dd>
        ${task.log_artifact === null ? '–' : html`<a href="/artifacts/${task.log_artifact}">#${task.log_artifact}</a>`}
      </dd>
    </dl>
    <details>
      <summary>Input</summary>
      <pre>${JSON.stringify(task.input, null, 2)}</pre>
    </details>
    ${
      task.output === null
        ? ''
        : html`<details>
            <summary>Output</summary>
            <pre>${JSON.stringify(task.output, null, 2)}</pre>
          </details>`
    }
    <h2>Attempts</h2>
    ${
      task.attempts.length === 0
        ? html`<p class="empty">Not started yet.</p>`
        : html`<div class="scroll">
            <table>
              <thead>
                <tr>
                  <th>#</th>
                  <th>Worker</th>
                  <th>Started</th>
                  <th>Ended</th>
                  <th>Outcome</th>
                </tr>
              </thead>
              <tbody>
                ${task.attempts.map(
                  (a) =>
                    html`<tr>
                      <td>${a.attempt}</td>
                      <td>${a.worker}</td>
                      <td>${time(a.started_at)}</td>
                      <td>${time(a.ended_at)}</td>
                      <td>${a.outcome ?? '–'}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }`;
}
