import type { TestServer } from './server.ts';

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  /** The body parsed as JSON when it is JSON, else the raw text. */
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read any field of any response
  readonly raw: Buffer;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Calls the server in-process (Fastify's `inject`), as the holder of `token`. */
export function apiAs(server: TestServer, token?: string) {
  const call = async (
    method: Method,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> => {
    const isRaw = Buffer.isBuffer(body) || typeof body === 'string';
    const response = await server.app.inject({
      method,
      url,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined || isRaw ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { payload: isRaw ? body : JSON.stringify(body) }),
    });
    const raw = response.rawPayload;
    const contentType = response.headers['content-type'];
    const isJson = typeof contentType === 'string' && contentType.includes('application/json');
    return {
      status: response.statusCode,
      headers: response.headers,
      body: isJson && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : raw.toString('utf8'),
      raw,
    };
  };
  return {
    call,
    get: (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers),
    post: (url: string, body?: unknown) => call('POST', url, body ?? {}),
    put: (url: string, body?: unknown, headers?: Record<string, string>) =>
      call('PUT', url, body ?? {}, headers),
    patch: (url: string, body?: unknown) => call('PATCH', url, body ?? {}),
    delete: (url: string) => call('DELETE', url),
  };
}

export type Api = ReturnType<typeof apiAs>;

/** Creates a user with a personal token, as the admin; returns the token. */
export async function createUserWithToken(
  server: TestServer,
  username: string,
  role: 'guest' | 'developer' | 'admin' = 'developer',
): Promise<string> {
  const admin = apiAs(server, server.adminToken);
  const password = `${username}-password-123`;
  const created = await admin.post('/api/v1/users', { username, role, password });
  if (created.status !== 201) {
    throw new Error(`creating ${username}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  const login = await apiAs(server).post('/api/v1/auth/login', { username, password });
  if (login.status !== 200) {
    throw new Error(`logging in ${username}: ${login.status} ${JSON.stringify(login.body)}`);
  }
  return login.body.token.token as string;
}
