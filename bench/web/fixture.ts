import { sql } from 'kysely';
import type { Db } from '../../src/server/db/connect.ts';

export interface BenchWorkspace {
  readonly name: string;
  readonly username: string;
  readonly password: string;
  /** A personal token of the user, for the API. */
  readonly token: string;
}

async function call(url: string, token: string, method: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(token === '' ? {} : { authorization: `Bearer ${token}` }),
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${url}: ${response.status} ${text}`);
  }
  return JSON.parse(text) as unknown;
}

/**
 * A user with a password and a private workspace it owns, made over the API as
 * the admin: the pages and the API then pass the same access checks as in use.
 */
export async function prepareWorkspace(url: string, adminToken: string): Promise<BenchWorkspace> {
  const username = 'bench';
  const password = 'bench-password-123';
  await call(`${url}/api/v1/users`, adminToken, 'POST', { username, password, role: 'developer' });
  const login = (await call(`${url}/api/v1/auth/login`, '', 'POST', { username, password })) as {
    token: { token: string };
  };
  const token = login.token.token;
  await call(`${url}/api/v1/workspaces`, token, 'POST', { name: 'bench', public: false });
  return { name: 'bench', username, password, token };
}

/**
 * Inserts `count` tasks into the workspace `bench` of user `bench` in one statement, most of them
 * finished, as a farm's history looks: 90 % succeeded, 5 % failed, the rest
 * pending or cancelled.
 */
export async function insertTasks(db: Db, count: number): Promise<void> {
  await sql`
    insert into tasks (workspace_id, type, input, runs_on, architecture, base_score, queue_key,
      state, result, created_by, created_at, started_at, completed_at, time_limit, attempt)
    select w.id, case when i % 3 = 0 then 'debian:source' else 'noop' end,
      jsonb_build_object('n', i), 'worker', case when i % 2 = 0 then 'amd64' else 'arm64' end,
      0, -extract(epoch from now()) / 60,
      s.state, s.result, u.id, now() - make_interval(secs => ${count} - i),
      case when s.state in ('completed', 'cancelled') then now() - make_interval(secs => ${count} - i) end,
      case when s.state in ('completed', 'cancelled') then now() - make_interval(secs => ${count} - i - 1) end,
      3600, case when s.state = 'completed' then 1 else 0 end
    from generate_series(1, ${count}) as i
    cross join lateral (select
      case when i % 20 = 0 then 'completed' when i % 20 = 1 then 'pending'
           when i % 20 = 2 then 'cancelled' else 'completed' end as state,
      case when i % 20 = 0 then 'failure' when i % 20 in (1, 2) then null else 'success' end as result
    ) s
    join workspaces w on w.name = 'bench'
    join users u on u.username = 'bench'`.execute(db);
  await sql`analyze tasks`.execute(db);
}

/** Logs in through the login form as a browser does; returns the `Cookie` header. */
export async function logInBrowser(
  url: string,
  username: string,
  password: string,
): Promise<string> {
  const form = await fetch(`${url}/login`);
  const loginCookie = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const done = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, username, password }).toString(),
  });
  const session = done.headers
    .getSetCookie()
    .find((c) => c.startsWith('kiln_session='))
    ?.split(';')[0];
  if (done.status !== 303 || session === undefined) {
    throw new Error(`logging in over the form: ${done.status}`);
  }
  return session;
}
