import { Type } from 'typebox';
import { IdParams } from '../../../protocol/common.schema.ts';
import { KilnError } from '../../../protocol/errors.ts';
import { tokenScopes, type TokenScope } from '../../../protocol/tokens.schema.ts';
import { isAdmin } from '../../auth/actor.ts';
import { createToken, listOwnTokens, revokeOwnToken } from '../../auth/auth.service.ts';
import type { App } from '../../http/types.ts';
import { changeWorker, listWorkers } from '../../scheduler/worker.service.ts';
import { html } from '../html.ts';
import { csrfField, page, time } from '../layout.ts';
import type { FormBody, Web, WebDeps } from '../web.routes.ts';

const hide = { hide: true } as const;

function ageOf(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120
    ? `${seconds} s`
    : seconds < 7200
      ? `${Math.round(seconds / 60)} min`
      : `${Math.round(seconds / 3600)} h`;
}

/** Workers (everyone may look; admins enable and disable) and the user's tokens. */
export function registerAdminPages(web: App, deps: WebDeps, view: Web): void {
  const { db } = deps.scheduler;

  web.get('/workers', { schema: hide }, async (request, reply) => {
    const workers = await listWorkers(deps.scheduler, request.actor);
    const ctx = view.context(request);
    const admin = isAdmin(ctx.actor);
    return view.send(
      reply,
      page(
        ctx,
        'Workers',
        workers.length === 0
          ? html`<p class="empty">No worker has enrolled.</p>`
          : html`<div class="scroll">
              <table class="workers">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Status</th>
                    <th>Architectures</th>
                    <th>Executors</th>
                    <th>Tags</th>
                    <th class="num">Cores</th>
                    <th class="num">Load</th>
                    <th>Heartbeat</th>
                    <th>Running</th>
                    ${admin ? html`<th></th>` : ''}
                  </tr>
                </thead>
                <tbody>
                  ${workers.map(
                    (w) =>
                      html`<tr>
                        <td>${w.name}</td>
                        <td>${w.enabled ? (w.online ? 'online' : 'offline') : 'disabled'}</td>
                        <td>
                          ${w.architectures.join(' ')}${w.cross_architectures.length === 0 ? '' : html` <small>(cross: ${w.cross_architectures.join(' ')})</small>`}
                        </td>
                        <td>${w.executors.join(' ')}</td>
                        <td>${w.tags.join(' ')}</td>
                        <td class="num">${w.cores}</td>
                        <td class="num">${w.load === null ? '–' : w.load.toFixed(2)}</td>
                        <td><span title="${w.last_seen_at}">${ageOf(w.last_seen_at)} ago</span></td>
                        <td>
                          ${w.running.length === 0 ? '–' : w.running.map((id) => html`<a href="/tasks/${id}">#${id}</a> `)}
                        </td>
                        ${
                          admin
                            ? html`<td>
                                <form
                                  method="post"
                                  action="/workers/${encodeURIComponent(w.name)}/enabled"
                                >
                                  ${csrfField(ctx)}
                                  <input
                                    type="hidden"
                                    name="enabled"
                                    value="${String(!w.enabled)}"
                                  /><button type="submit" class="small">
                                    ${w.enabled ? 'Disable' : 'Enable'}
                                  </button>
                                </form>
                              </td>`
                            : ''
                        }
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`,
      ),
    );
  });

  web.post(
    '/workers/:name/enabled',
    { schema: { ...hide, params: Type.Object({ name: Type.String({ maxLength: 64 }) }) } },
    async (request, reply) => {
      const form = (request.body ?? {}) as FormBody;
      await changeWorker(
        deps.scheduler,
        request.actor,
        request.params.name,
        form['enabled'] === 'true',
      );
      return reply.redirect('/workers', 303);
    },
  );

  const tokensPage = async (request: Parameters<Web['context']>[0], created?: string) => {
    const tokens = (await listOwnTokens(db, request.actor)).filter((t) => !t.revoked);
    const ctx = view.context(request);
    return page(
      ctx,
      'Tokens',
      html`${
          created === undefined
            ? ''
            : html`<div class="notice" role="status">
                <p>Your new token, shown this once:</p>
                <div class="copy">
                  <pre><code id="new-token">${created}</code></pre>
                  <button type="button" class="copy-button">Copy</button>
                </div>
              </div>`
        }
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Scopes</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${tokens.map(
                (t) =>
                  html`<tr>
                    <td>${t.name}</td>
                    <td>${t.scopes.join(' ')}</td>
                    <td>${time(t.created_at)}</td>
                    <td>${t.expires_at === null ? 'never' : time(t.expires_at)}</td>
                    <td>${time(t.last_used_at)}</td>
                    <td>
                      <form method="post" action="/tokens/${t.id}/revoke">
                        ${csrfField(ctx)}<button type="submit" class="danger small">Revoke</button>
                      </form>
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>
        <h2>New token</h2>
        <form method="post" action="/tokens" class="inline">
          ${csrfField(ctx)}
          <label>Name <input name="name" required maxlength="200" /></label>
          <fieldset>
            <legend>Scopes</legend>
            ${tokenScopes.map((s) => html`<label><input type="checkbox" name="scope_${s}" value="1" ${s === 'admin' ? '' : html` checked`} /> ${s}</label> `)}
          </fieldset>
          <label
            >Expires in days <input name="days" type="number" min="1" max="3650" size="5"
          /></label>
          <button type="submit">Create token</button>
        </form>`,
    );
  };

  web.get('/tokens', { schema: hide }, async (request, reply) =>
    view.send(reply, await tokensPage(request)),
  );

  web.post('/tokens', { schema: hide }, async (request, reply) => {
    const form = (request.body ?? {}) as FormBody;
    const scopes = tokenScopes.filter((s): s is TokenScope => form[`scope_${s}`] === '1');
    const days =
      form['days'] === undefined || form['days'] === '' ? undefined : Number(form['days']);
    const name = (form['name'] ?? '').trim();
    if (
      name === '' ||
      name.length > 200 ||
      scopes.length === 0 ||
      (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650))
    ) {
      throw new KilnError(
        'validation_failed',
        'a token needs a name, at least one scope, and expires in 1 to 3650 days',
      );
    }
    const token = await createToken(db, request.actor, {
      name,
      scopes,
      expiresIn: days === undefined ? undefined : days * 86400,
    });
    // The secret is shown in this response only, never in a URL or a later page.
    return view.send(reply, await tokensPage(request, token.token), 201);
  });

  web.post(
    '/tokens/:id/revoke',
    { schema: { ...hide, params: IdParams } },
    async (request, reply) => {
      await revokeOwnToken(db, request.actor, request.params.id);
      return reply.redirect('/tokens', 303);
    },
  );
}
