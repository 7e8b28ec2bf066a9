import assert from 'node:assert/strict';
import type { TestServer } from './server.ts';

/** A page as `inject` returns it. */
export interface WebResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  readonly body: string;
}

/** The `Set-Cookie` headers of a response, as a list. */
export function setCookies(response: WebResponse): string[] {
  const value = response.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
}

/** The value of the form field `name` in a page. */
export function formField(body: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(body);
  assert.ok(match?.[1] !== undefined, `no ${name} field in the page`);
  return match[1];
}

/** A browser played over `inject`: it keeps the cookies the server sets. */
export function webClient(server: TestServer) {
  const jar = new Map<string, string>();
  const call = async (
    method: 'GET' | 'POST',
    url: string,
    form?: Record<string, string>,
  ): Promise<WebResponse> => {
    const response = await server.app.inject({
      method,
      url,
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(form === undefined ? {} : { payload: new URLSearchParams(form).toString() }),
    });
    const result = { status: response.statusCode, headers: response.headers, body: response.body };
    for (const cookie of setCookies(result)) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (/Max-Age=0/.test(cookie)) {
        jar.delete(pair.slice(0, eq));
      } else {
        jar.set(pair.slice(0, eq), value);
      }
    }
    return result;
  };
  return {
    jar,
    get: (url: string) => call('GET', url),
    post: (url: string, form: Record<string, string>) => call('POST', url, form),
    /** Logs in through the login form; returns the CSRF token of the session's pages. */
    async logIn(username: string, password = `${username}-password-123`): Promise<string> {
      const form = await call('GET', '/login');
      const done = await call('POST', '/login', {
        _csrf: formField(form.body, '_csrf'),
        next: '/',
        username,
        password,
      });
      assert.equal(done.status, 303, done.body);
      const home = await call('GET', '/');
      assert.equal(home.status, 200);
      return formField(home.body, '_csrf');
    },
  };
}
