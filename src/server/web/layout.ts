import type { Actor } from '../auth/actor.ts';
import { html, type Html, type HtmlValue } from './html.ts';

/** What every page knows about the request it answers. */
export interface PageContext {
  readonly actor: Actor;
  /** The CSRF token forms carry; empty when nobody is logged in. */
  readonly csrf: string;
  /** The path asked for (for the login redirect and the active menu entry). */
  readonly path: string;
}

const menu: readonly (readonly [string, string])[] = [
  ['/', 'Dashboard'],
  ['/queue', 'Queue'],
  ['/workers', 'Workers'],
  ['/workspaces', 'Workspaces'],
  ['/tokens', 'Tokens'],
];

function menuEntry(ctx: PageContext, [href, label]: readonly [string, string]): Html {
  const current = href === '/' ? ctx.path === '/' : ctx.path.startsWith(href);
  return html`<li><a href="${href}" ${current ? html` aria-current="page"` : ''}>${label}</a></li>`;
}

function account(ctx: PageContext): Html {
  if (ctx.actor.kind !== 'user') {
    return html`<a href="/login?next=${encodeURIComponent(ctx.path)}">Log in</a>`;
  }
  return html`<form method="post" action="/logout" class="inline">
    ${csrfField(ctx)}<span class="who">${ctx.actor.username}</span>
    <button type="submit" class="link">Log out</button>
  </form>`;
}

/** The hidden field every form posts. */
export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;
}

/** A whole page: head, navigation, main content. */
export function page(ctx: PageContext, title: string, body: HtmlValue): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · kiln</title>
        <link rel="stylesheet" href="/static/kiln.css" />
        <script src="/static/kiln.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <nav aria-label="Main">
            <a class="brand" href="/">kiln</a>
            <ul>
              ${menu.map((m) => menuEntry(ctx, m))}
            </ul>
          </nav>
          <div class="account">${account(ctx)}</div>
        </header>
        <main id="main" tabindex="-1">
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
}

/** A state badge (`pending`, `running`, `completed: failure`, ...). */
export function stateBadge(state: string, result?: string | null): Html {
  const label = result === null || result === undefined ? state : `${state}: ${result}`;
  return html`<span class="badge ${result ?? state}">${label}</span>`;
}

/** A time as an ISO string in a `<time>` element (the script shows it as an age). */
export function time(iso: string | null | undefined): Html {
  return iso === null || iso === undefined
    ? html`–`
    : html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 19)}</time>`;
}

/**
 * Links to the first, previous, next and last page of a list. When `total` was
 * counted only up to `countedUpTo`, and reached it, the list is longer: the
 * count says "more than", and there is no last page to link.
 */
export function pager(
  base: string,
  params: URLSearchParams,
  page: { offset: number; limit: number; total: number; countedUpTo?: number },
): Html {
  const { offset, limit, total } = page;
  const at = (o: number) => {
    const p = new URLSearchParams(params);
    p.set('offset', String(o));
    return `${base}?${p.toString()}`;
  };
  const more = page.countedUpTo !== undefined && total >= page.countedUpTo;
  const last = Math.max(0, Math.floor((total - 1) / limit) * limit);
  return html`<nav class="pager" aria-label="Pages">
    ${offset > 0 ? html`<a href="${at(0)}">First</a> <a href="${at(Math.max(0, offset - limit))}" rel="prev">Previous</a>` : ''}
    <span
      >${total === 0 ? 0 : offset + 1}–${Math.min(total, offset + limit)} of
      ${more ? `more than ${total - 1}` : total}</span
    >
    ${offset + limit < total ? html`<a href="${at(offset + limit)}" rel="next">Next</a>` : ''}
    ${offset + limit < total && !more ? html`<a href="${at(last)}">Last</a>` : ''}
  </nav>`;
}
