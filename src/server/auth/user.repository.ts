import type { Db } from '../db/connect.ts';
import type { UserRow } from '../db/schema.ts';

export function findUserByName(db: Db, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
}

export async function insertUser(
  db: Db,
  user: { username: string; role: UserRow['role']; passwordHash: string | null },
): Promise<UserRow | undefined> {
  return db
    .insertInto('users')
    .values({ username: user.username, role: user.role, password_hash: user.passwordHash })
    .onConflict((oc) => oc.column('username').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('username').execute();
}

export async function updateUser(
  db: Db,
  id: number,
  changes: { role?: UserRow['role']; passwordHash?: string },
): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({
      ...(changes.role === undefined ? {} : { role: changes.role }),
      ...(changes.passwordHash === undefined ? {} : { password_hash: changes.passwordHash }),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteUser(db: Db, id: number): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function countAdmins(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'admin')
    .executeTakeFirstOrThrow();
  return row.n;
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return row.n;
}
