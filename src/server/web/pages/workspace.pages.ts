import { KilnError } from '../../../protocol/errors.ts';
import {
  MemberParams,
  WorkspaceParams,
  workspaceRoles,
  type WorkspaceRole,
} from '../../../protocol/workspaces.schema.ts';
import type { App } from '../../http/types.ts';
import { listWorkspaceRepositories } from '../../repos/apt/repository.service.ts';
import {
  listWorkspaceMembers,
  listWorkspaces,
  removeMember,
  setMember,
  showWorkspace,
} from '../../workspaces/workspace.service.ts';
import { html } from '../html.ts';
import { csrfField, page, time } from '../layout.ts';
import type { FormBody, Web, WebDeps } from '../web.routes.ts';

const hide = { hide: true } as const;

function parseRole(value: string | undefined): WorkspaceRole {
  const role = workspaceRoles.find((r) => r === value);
  if (role === undefined) {
    throw new KilnError('validation_failed', `the role is one of ${workspaceRoles.join(', ')}`);
  }
  return role;
}

export function registerWorkspacePages(web: App, deps: WebDeps, view: Web): void {
  const { db } = deps.scheduler;

  web.get('/workspaces', { schema: hide }, async (request, reply) => {
    const workspaces = await listWorkspaces(db, request.actor);
    return view.send(
      reply,
      page(
        view.context(request),
        'Workspaces',
        workspaces.length === 0
          ? html`<p class="empty">No workspace you can see.</p>`
          : html`<div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Visibility</th>
                    <th>Your role</th>
                    <th>Created</th>
                  </tr>
                </thead>
                <tbody>
                  ${workspaces.map(
                    (w) =>
                      html`<tr>
                        <td><a href="/workspaces/${encodeURIComponent(w.name)}">${w.name}</a></td>
                        <td>${w.public ? 'public' : 'private'}</td>
                        <td>${w.role ?? '–'}</td>
                        <td>${time(w.created_at)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`,
      ),
    );
  });

  web.get(
    '/workspaces/:workspace',
    { schema: { ...hide, params: WorkspaceParams } },
    async (request, reply) => {
      const name = request.params.workspace;
      const workspace = await showWorkspace(db, request.actor, name);
      const [members, repositories] = await Promise.all([
        listWorkspaceMembers(db, request.actor, name),
        listWorkspaceRepositories(deps.repositories, request.actor, name),
      ]);
      const ctx = view.context(request);
      const owner =
        workspace.role === 'owner' || (ctx.actor.kind === 'user' && ctx.actor.role === 'admin');
      const base = `/workspaces/${encodeURIComponent(name)}`;
      return view.send(
        reply,
        page(
          ctx,
          `Workspace ${name}`,
          html`<p>
              ${workspace.public ? 'Public' : 'Private'}
              workspace${workspace.role === null ? '' : html`; you are ${workspace.role}`}. Running
              tasks limit: ${workspace.max_running_tasks ?? 'none'}. Artifacts expire after:
              ${workspace.default_expiration === null ? 'never' : `${workspace.default_expiration} s`}.
            </p>
            <ul class="inline-list">
              <li><a href="${base}/runs">Runs</a></li>
              <li><a href="${base}/tasks">Tasks</a></li>
              <li><a href="${base}/artifacts">Artifacts</a></li>
            </ul>
            <h2>Repositories</h2>
            ${
              repositories.length === 0
                ? html`<p class="empty">No repositories.</p>`
                : html`<ul>
                    ${repositories.map(
                      (r) =>
                        html`<li>
                          <a href="${base}/repos/${encodeURIComponent(r.name)}">${r.name}</a> —
                          ${r.suites.map((s) => s.codename).join(', ')}
                        </li>`,
                    )}
                  </ul>`
            }
            <h2>Members</h2>
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>User</th>
                    <th>Role</th>
                    <th>Added</th>
                    ${owner ? html`<th></th>` : ''}
                  </tr>
                </thead>
                <tbody>
                  ${members.map(
                    (m) =>
                      html`<tr>
                        <td>${m.username}</td>
                        <td>${m.role}</td>
                        <td>${time(m.added_at)}</td>
                        ${
                          owner
                            ? html`<td>
                                <form
                                  method="post"
                                  action="${base}/members/${encodeURIComponent(m.username)}/remove"
                                >
                                  ${csrfField(ctx)}<button type="submit" class="danger small">
                                    Remove
                                  </button>
                                </form>
                              </td>`
                            : ''
                        }
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${
              owner
                ? html`<form method="post" action="${base}/members" class="inline">
                    ${csrfField(ctx)}
                    <label>User <input name="username" required size="12" /></label>
                    <label
                      >Role
                      <select name="role">
                        ${workspaceRoles.map((r) => html`<option${r === 'viewer' ? html` selected` : ''}>${r}</option>`)}
                      </select></label
                    >
                    <button type="submit">Add or change member</button>
                  </form>`
                : ''
            }`,
        ),
      );
    },
  );

  web.post(
    '/workspaces/:workspace/members',
    { schema: { ...hide, params: WorkspaceParams } },
    async (request, reply) => {
      const form = (request.body ?? {}) as FormBody;
      const name = request.params.workspace;
      await setMember(
        db,
        request.actor,
        name,
        (form['username'] ?? '').trim(),
        parseRole(form['role']),
      );
      return reply.redirect(`/workspaces/${encodeURIComponent(name)}`, 303);
    },
  );

  web.post(
    '/workspaces/:workspace/members/:username/remove',
    { schema: { ...hide, params: MemberParams } },
    async (request, reply) => {
      const { workspace, username } = request.params;
      await removeMember(db, request.actor, workspace, username);
      return reply.redirect(`/workspaces/${encodeURIComponent(workspace)}`, 303);
    },
  );
}
