import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KilnError } from '../../protocol/errors.ts';
import { anonymous } from '../auth/actor.ts';
import type { ArtifactDeps } from '../artifacts/artifact-change.ts';
import { toErrorResponse } from '../http/error-handler.ts';
import type { App } from '../http/types.ts';
import type { RepositoryDeps } from '../repos/apt/repository.service.ts';
import type { LogFollowers } from '../scheduler/log-followers.ts';
import type { SchedulerDeps } from '../scheduler/scheduler.ts';
import type { WorkflowDeps } from '../workflows/workflow.service.ts';
import { html, type Html } from './html.ts';
import { page, type PageContext } from './layout.ts';
import { registerAdminPages } from './pages/admin.pages.ts';
import { registerArtifactPages } from './pages/artifact.pages.ts';
import { registerDashboardPages } from './pages/dashboard.pages.ts';
import { registerLoginPages } from './pages/login.pages.ts';
import { registerRepositoryPages } from './pages/repository.pages.ts';
import { registerRunPages } from './pages/run.pages.ts';
import { registerTaskPages } from './pages/task.pages.ts';
import { registerWorkspacePages } from './pages/workspace.pages.ts';
import { checkCsrf, parseCookies, resolveSession, sessionCookie } from './web-session.ts';

/** What the web pages need: the same services the API uses. */
export interface WebDeps {
  readonly scheduler: SchedulerDeps;
  readonly logFollowers: LogFollowers;
  readonly artifacts: ArtifactDeps;
  readonly repositories: RepositoryDeps;
  readonly workflows: WorkflowDeps;
}

/** The pages' view of a request: its context, and a way to answer with a page. */
export interface Web {
  context(request: FastifyRequest): PageContext;
  send(reply: FastifyReply, html: Html, status?: number): FastifyReply;
  /** Whether cookies must be `Secure` (the server is reached over HTTPS). */
  secureCookies(): boolean;
}

/** A submitted form's fields (`application/x-www-form-urlencoded`). */
export type FormBody = Readonly<Record<string, string>>;

const staticFiles = ['kiln.css', 'kiln.js'] as const;
const staticTypes = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8' };

/**
 * Registers the web UI at `/`: server-rendered pages that call the services the
 * API calls with the actor of the session cookie, so they pass the same access
 * checks. The cookie is honoured on these routes only: the API takes tokens.
 */
export async function registerWebRoutes(app: App, deps: WebDeps): Promise<void> {
  const assets = new Map(
    await Promise.all(
      staticFiles.map(
        async (name) =>
          [name, await readFile(new URL(`./static/${name}`, import.meta.url), 'utf8')] as const,
      ),
    ),
  );
  await app.register(async (web) => {
    const contexts = new WeakMap<FastifyRequest, PageContext>();
    const view: Web = {
      context: (request) =>
        contexts.get(request) ?? { actor: anonymous, csrf: '', path: request.url },
      send: (reply, body, status = 200) =>
        reply
          .status(status)
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .send(body.text),
      secureCookies: () => deps.repositories.publicUrl().startsWith('https:'),
    };

    web.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    web.addHook('preValidation', async (request) => {
      const session = await resolveSession(
        deps.scheduler.db,
        parseCookies(request.headers.cookie).get(sessionCookie),
      );
      const path = request.url;
      if (session !== undefined) {
        request.actor = session.actor;
      }
      contexts.set(request, { actor: request.actor, csrf: session?.csrf ?? '', path });
      // Every form post carries the session's CSRF token (the login form its own).
      if (request.method === 'POST' && request.routeOptions.url !== '/login') {
        if (session === undefined) {
          throw new KilnError('unauthenticated', 'log in first');
        }
        checkCsrf(session.csrf, (request.body as FormBody | undefined)?.['_csrf']);
      }
    });
    web.setErrorHandler(async (error, request, reply) => {
      const { status, body } = toErrorResponse(error);
      if (status >= 500) {
        request.log.error({ err: error }, 'page failed');
      }
      const ctx = view.context(request);
      if (body.error.code === 'unauthenticated' && ctx.actor.kind === 'anonymous') {
        const next = request.method === 'GET' ? request.url : '/';
        return reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
      }
      const title = status === 404 ? 'Not found' : 'Cannot do that';
      return view.send(
        reply,
        page(ctx, title, html`<p class="error" role="alert">${body.error.message}</p>`),
        status,
      );
    });

    for (const name of staticFiles) {
      const text = assets.get(name) ?? '';
      web.get(`/static/${name}`, { schema: { hide: true } }, async (_request, reply) =>
        reply
          .type(staticTypes[name.endsWith('.css') ? 'css' : 'js'])
          .header('cache-control', 'public, max-age=300')
          .send(text),
      );
    }
    registerLoginPages(web, deps, view);
    registerDashboardPages(web, deps, view);
    registerTaskPages(web, deps, view);
    registerRunPages(web, deps, view);
    registerWorkspacePages(web, deps, view);
    registerArtifactPages(web, deps, view);
    registerRepositoryPages(web, deps, view);
    registerAdminPages(web, deps, view);
  });
}
