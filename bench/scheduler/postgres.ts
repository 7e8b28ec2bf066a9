import pg from 'pg';
import { quoteIdentifier } from '../../src/server/db/connect.ts';

/** A database of the bench's own on the PostgreSQL server; dropped on dispose. */
export interface ScratchDatabase extends AsyncDisposable {
  readonly url: string;
}

/**
 * Creates the empty database `name` on the server of `serverUrl` (dropping a
 * leftover of an interrupted run first). The database `serverUrl` names is
 * only used to connect: the bench never writes there.
 */
export async function createScratchDatabase(
  serverUrl: string,
  name: string,
): Promise<ScratchDatabase> {
  await administer(serverUrl, [
    `drop database if exists ${quoteIdentifier(name)} with (force)`,
    `create database ${quoteIdentifier(name)}`,
  ]);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async [Symbol.asyncDispose]() {
      await administer(serverUrl, [
        `drop database if exists ${quoteIdentifier(name)} with (force)`,
      ]);
    },
  };
}

async function administer(serverUrl: string, statements: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (const statement of statements) {
      await client.query(statement);
    }
  } finally {
    await client.end();
  }
}

/** The server's version, for the report. */
export async function readServerVersion(serverUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>('show server_version');
    return result.rows[0]?.server_version ?? '?';
  } finally {
    await client.end();
  }
}
