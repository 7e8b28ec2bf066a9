import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.schema.ts';

/**
 * Workspace roles, weakest first: viewer reads; uploader also creates artifacts
 * and changes its own; writer changes anything; owner also manages members and
 * settings.
 */
export const workspaceRoles = ['viewer', 'uploader', 'writer', 'owner'] as const;
export type WorkspaceRole = (typeof workspaceRoles)[number];

export const WorkspaceRoleSchema = Type.Enum(workspaceRoles);

/** Seconds an artifact lives after creation; null keeps artifacts until deleted. */
export const Expiration = Type.Union([
  Type.Integer({ minimum: 60, maximum: 100 * 365 * 86400 }),
  Type.Null(),
]);

/** Tasks of the workspace that may run at once; null: no limit. */
export const MaxRunningTasks = Type.Union([
  Type.Integer({ minimum: 1, maximum: 100000 }),
  Type.Null(),
]);

export const Workspace = Type.Object({
  name: Name,
  public: Type.Boolean(),
  default_expiration: Expiration,
  max_running_tasks: MaxRunningTasks,
  created_at: Timestamp,
  /** The caller's role in it, if a member. */
  role: Type.Union([WorkspaceRoleSchema, Type.Null()]),
});
export type Workspace = Static<typeof Workspace>;

export const CreateWorkspaceBody = Type.Object(
  {
    name: Name,
    public: Type.Optional(Type.Boolean()),
    default_expiration: Type.Optional(Expiration),
  },
  { additionalProperties: false },
);
export type CreateWorkspaceBody = Static<typeof CreateWorkspaceBody>;

export const UpdateWorkspaceBody = Type.Object(
  {
    public: Type.Optional(Type.Boolean()),
    default_expiration: Type.Optional(Expiration),
    max_running_tasks: Type.Optional(MaxRunningTasks),
  },
  { additionalProperties: false },
);
export type UpdateWorkspaceBody = Static<typeof UpdateWorkspaceBody>;

export const WorkspaceParams = Type.Object({ workspace: Name });

export const Member = Type.Object({
  username: Name,
  role: WorkspaceRoleSchema,
  added_at: Timestamp,
});
export type Member = Static<typeof Member>;

export const MemberParams = Type.Object({ workspace: Name, username: Name });

export const SetMemberBody = Type.Object(
  { role: WorkspaceRoleSchema },
  { additionalProperties: false },
);
