import { Type } from 'typebox';
import { KilnError } from '../../../protocol/errors.ts';
import type { App } from '../../http/types.ts';
import { html } from '../html.ts';
import { page, type PageContext } from '../layout.ts';
import type { FormBody, Web, WebDeps } from '../web.routes.ts';
import {
  checkCsrf,
  endSession,
  loginCsrfCookie,
  parseCookies,
  randomSecret,
  serializeCookie,
  sessionCookie,
  sessionSeconds,
  startSession,
} from '../web-session.ts';

/** Only a local path: `next` must not send the browser to another site. */
export function localPath(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/';
}

function loginForm(ctx: PageContext, csrf: string, next: string, message?: string) {
  return page(
    ctx,
    'Log in',
    html`${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}
      <form method="post" action="/login" class="stack narrow">
        <input type="hidden" name="_csrf" value="${csrf}" />
        <input type="hidden" name="next" value="${next}" />
        <label>Username <input name="username" autocomplete="username" required autofocus /></label>
        <label
          >Password <input name="password" type="password" autocomplete="current-password" required
        /></label>
        <button type="submit">Log in</button>
      </form>`,
  );
}

export function registerLoginPages(web: App, deps: WebDeps, view: Web): void {
  const db = deps.scheduler.db;
  const hide = { hide: true };

  web.get(
    '/login',
    { schema: { ...hide, querystring: Type.Object({ next: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      // Login CSRF: the form's token must match a cookie only this site can set.
      const csrf = randomSecret();
      reply.header(
        'set-cookie',
        serializeCookie(loginCsrfCookie, csrf, { maxAge: 3600, secure: view.secureCookies() }),
      );
      return view.send(
        reply,
        loginForm(view.context(request), csrf, localPath(request.query.next)),
      );
    },
  );

  web.post('/login', { schema: hide }, async (request, reply) => {
    const form = (request.body ?? {}) as FormBody;
    checkCsrf(parseCookies(request.headers.cookie).get(loginCsrfCookie), form['_csrf']);
    const next = localPath(form['next']);
    try {
      const id = await startSession(db, {
        username: form['username'] ?? '',
        password: form['password'] ?? '',
      });
      const secure = view.secureCookies();
      return await reply
        .header('set-cookie', [
          serializeCookie(sessionCookie, id, { maxAge: sessionSeconds, secure }),
          serializeCookie(loginCsrfCookie, '', { maxAge: 0, secure }),
        ])
        .redirect(next, 303);
    } catch (error) {
      if (error instanceof KilnError && error.code === 'invalid_credentials') {
        return view.send(
          reply,
          loginForm(view.context(request), form['_csrf'] ?? '', next, error.message),
          401,
        );
      }
      throw error;
    }
  });

  web.post('/logout', { schema: hide }, async (request, reply) => {
    await endSession(db, parseCookies(request.headers.cookie).get(sessionCookie));
    return reply
      .header(
        'set-cookie',
        serializeCookie(sessionCookie, '', { maxAge: 0, secure: view.secureCookies() }),
      )
      .redirect('/', 303);
  });
}
