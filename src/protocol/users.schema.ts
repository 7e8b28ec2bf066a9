import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.schema.ts';

/** Instance roles, weakest first. `anonymous` is whoever presents no token. */
export const instanceRoles = ['guest', 'developer', 'admin'] as const;
export type InstanceRole = (typeof instanceRoles)[number];

export const User = Type.Object({
  username: Name,
  role: Type.Enum(instanceRoles),
  has_password: Type.Boolean(),
  created_at: Timestamp,
});
export type User = Static<typeof User>;

export const Password = Type.String({ minLength: 8, maxLength: 1024 });

export const CreateUserBody = Type.Object(
  {
    username: Name,
    role: Type.Optional(Type.Enum(instanceRoles)),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);
export type CreateUserBody = Static<typeof CreateUserBody>;

export const UpdateUserBody = Type.Object(
  {
    role: Type.Optional(Type.Enum(instanceRoles)),
    password: Type.Optional(Password),
  },
  { additionalProperties: false },
);
export type UpdateUserBody = Static<typeof UpdateUserBody>;

export const LoginBody = Type.Object(
  {
    username: Name,
    password: Type.String({ maxLength: 1024 }),
    token_name: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const ChangePasswordBody = Type.Object(
  { password: Password },
  { additionalProperties: false },
);
