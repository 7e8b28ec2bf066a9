import { Type } from 'typebox';
import { ErrorResponse, Name } from '../../protocol/common.schema.ts';
import { CreatedToken, CreateTokenBody, Token } from '../../protocol/tokens.schema.ts';
import {
  ChangePasswordBody,
  CreateUserBody,
  LoginBody,
  UpdateUserBody,
  User,
} from '../../protocol/users.schema.ts';
import type { Db } from '../db/connect.ts';
import type { App } from '../http/types.ts';
import {
  changeOwnPassword,
  changeUser,
  createToken,
  createUser,
  listAllUsers,
  listOwnTokens,
  logIn,
  removeUser,
  requireUser,
  revokeOwnToken,
  toUser,
} from './auth.service.ts';
import { findUserByName } from './user.repository.ts';
import { KilnError } from '../../protocol/errors.ts';

const errors = { '4xx': ErrorResponse };

export function registerAuthRoutes(app: App, db: Db): void {
  app.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a username and password for a personal token',
        body: LoginBody,
        response: { 200: Type.Object({ user: User, token: CreatedToken }), ...errors },
      },
    },
    async (request) =>
      logIn(db, {
        username: request.body.username,
        password: request.body.password,
        tokenName: request.body.token_name,
      }),
  );

  app.get(
    '/api/v1/me',
    {
      schema: {
        tags: ['auth'],
        summary: 'The user the token belongs to',
        response: {
          200: Type.Object({ user: User, scopes: Type.Array(Type.String()) }),
          ...errors,
        },
      },
    },
    async (request) => {
      const actor = requireUser(request.actor);
      const user = await findUserByName(db, actor.username);
      if (user === undefined) {
        throw new KilnError('unauthenticated', 'the token is not valid');
      }
      return { user: toUser(user), scopes: [...actor.scopes] };
    },
  );

  app.put(
    '/api/v1/me/password',
    { schema: { tags: ['auth'], summary: 'Set your password', body: ChangePasswordBody } },
    async (request, reply) => {
      await changeOwnPassword(db, request.actor, request.body.password);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Your personal tokens',
        response: { 200: Type.Object({ items: Type.Array(Token) }), ...errors },
      },
    },
    async (request) => ({ items: await listOwnTokens(db, request.actor) }),
  );

  app.post(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a personal token (its secret is shown once)',
        body: CreateTokenBody,
        response: { 201: CreatedToken, ...errors },
      },
    },
    async (request, reply) => {
      const token = await createToken(db, request.actor, {
        name: request.body.name,
        scopes: request.body.scopes,
        expiresIn: request.body.expires_in,
      });
      return reply.status(201).send(token);
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke a token',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      },
    },
    async (request, reply) => {
      await revokeOwnToken(db, request.actor, request.params.id);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/users',
    {
      schema: {
        tags: ['users'],
        summary: 'All users (admin)',
        response: { 200: Type.Object({ items: Type.Array(User) }), ...errors },
      },
    },
    async (request) => ({ items: await listAllUsers(db, request.actor) }),
  );

  app.post(
    '/api/v1/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (admin)',
        body: CreateUserBody,
        response: { 201: User, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createUser(db, request.actor, request.body)),
  );

  app.patch(
    '/api/v1/users/:username',
    {
      schema: {
        tags: ['users'],
        summary: "Change a user's role or password (admin)",
        params: Type.Object({ username: Name }),
        body: UpdateUserBody,
        response: { 200: User, ...errors },
      },
    },
    async (request) => changeUser(db, request.actor, request.params.username, request.body),
  );

  app.delete(
    '/api/v1/users/:username',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete a user (admin)',
        params: Type.Object({ username: Name }),
      },
    },
    async (request, reply) => {
      await removeUser(db, request.actor, request.params.username);
      return reply.status(204).send();
    },
  );
}
