import { Type } from 'typebox';
import { ErrorResponse } from '../../protocol/common.schema.ts';
import {
  CreateWorkspaceBody,
  Member,
  MemberParams,
  SetMemberBody,
  UpdateWorkspaceBody,
  Workspace,
  WorkspaceParams,
} from '../../protocol/workspaces.schema.ts';
import type { Db } from '../db/connect.ts';
import type { App } from '../http/types.ts';
import {
  changeWorkspace,
  createWorkspace,
  listWorkspaceMembers,
  listWorkspaces,
  removeMember,
  removeWorkspace,
  setMember,
  showWorkspace,
} from './workspace.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['workspaces'];

export function registerWorkspaceRoutes(app: App, db: Db): void {
  app.get(
    '/api/v1/workspaces',
    {
      schema: {
        tags,
        summary: 'Workspaces you can see',
        response: { 200: Type.Object({ items: Type.Array(Workspace) }), ...errors },
      },
    },
    async (request) => ({ items: await listWorkspaces(db, request.actor) }),
  );

  app.post(
    '/api/v1/workspaces',
    {
      schema: {
        tags,
        summary: 'Create a workspace (you become its owner)',
        body: CreateWorkspaceBody,
        response: { 201: Workspace, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createWorkspace(db, request.actor, request.body)),
  );

  app.get(
    '/api/v1/workspaces/:workspace',
    {
      schema: {
        tags,
        summary: 'A workspace',
        params: WorkspaceParams,
        response: { 200: Workspace, ...errors },
      },
    },
    async (request) => showWorkspace(db, request.actor, request.params.workspace),
  );

  app.patch(
    '/api/v1/workspaces/:workspace',
    {
      schema: {
        tags,
        summary: "Change a workspace's settings (owner)",
        params: WorkspaceParams,
        body: UpdateWorkspaceBody,
        response: { 200: Workspace, ...errors },
      },
    },
    async (request) => changeWorkspace(db, request.actor, request.params.workspace, request.body),
  );

  app.delete(
    '/api/v1/workspaces/:workspace',
    {
      schema: {
        tags,
        summary: 'Delete a workspace and its artifacts (owner)',
        params: WorkspaceParams,
      },
    },
    async (request, reply) => {
      await removeWorkspace(db, request.actor, request.params.workspace);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/workspaces/:workspace/members',
    {
      schema: {
        tags,
        summary: "A workspace's members",
        params: WorkspaceParams,
        response: { 200: Type.Object({ items: Type.Array(Member) }), ...errors },
      },
    },
    async (request) => ({
      items: await listWorkspaceMembers(db, request.actor, request.params.workspace),
    }),
  );

  app.put(
    '/api/v1/workspaces/:workspace/members/:username',
    {
      schema: {
        tags,
        summary: "Add a member or change a member's role (owner)",
        params: MemberParams,
        body: SetMemberBody,
        response: { 200: Member, ...errors },
      },
    },
    async (request) =>
      setMember(
        db,
        request.actor,
        request.params.workspace,
        request.params.username,
        request.body.role,
      ),
  );

  app.delete(
    '/api/v1/workspaces/:workspace/members/:username',
    { schema: { tags, summary: 'Remove a member (owner)', params: MemberParams } },
    async (request, reply) => {
      await removeMember(db, request.actor, request.params.workspace, request.params.username);
      return reply.status(204).send();
    },
  );
}
