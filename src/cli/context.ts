import type { Command } from 'commander';
import { ClientError, createClient, type Client } from '../client/client.ts';
import { loadCredentials } from './credentials.ts';
import { createOutput, type Output } from './output.ts';

/** What every command action gets: an API client and a way to print. */
export interface Context {
  readonly output: Output;
  /** A client for the configured server; fails with a hint when there is none. */
  client(): Promise<Client>;
}

interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<GlobalOptions>();
  return {
    output: createOutput(options.json === true),
    async client() {
      const credentials = await loadCredentials({ server: options.server, token: options.token });
      if (credentials.server === undefined) {
        throw new ClientError('no server: run `kiln login URL` or pass --server', 'usage');
      }
      return createClient(credentials.server, credentials.token);
    },
  };
}

/** Wraps an action so it receives its context first. */
export function withContext<A extends unknown[]>(
  action: (context: Context, ...args: A) => Promise<void>,
): (...args: [...A, Command]) => Promise<void> {
  return async (...args) => {
    const command = args[args.length - 1] as Command;
    await action(contextOf(command), ...(args.slice(0, -1) as A));
  };
}
