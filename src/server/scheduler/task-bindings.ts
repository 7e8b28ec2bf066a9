import { KilnError } from '../../protocol/errors.ts';
import { insertTaskArtifacts } from '../artifacts/artifact.repository.ts';
import type { Db } from '../db/connect.ts';
import type { TaskBinding, TaskRow } from '../db/schema.ts';
import { findOutputs } from './task.repository.ts';

/**
 * Stands in for a bound field while the input is checked at submission: an
 * integer no artifact id reaches, so it is told apart from real inputs.
 */
export const bindingPlaceholder = Number.MAX_SAFE_INTEGER;

/** Checks a task's bindings against its input and dependencies. */
export function checkBindings(
  bindings: readonly TaskBinding[],
  input: Record<string, unknown>,
  dependsOn: readonly number[],
): void {
  const fields = new Set<string>();
  for (const binding of bindings) {
    if (!dependsOn.includes(binding.task)) {
      throw new KilnError(
        'bad_request',
        `binding ${binding.field}: task ${binding.task} is not in depends_on`,
      );
    }
    if (binding.field in input || fields.has(binding.field)) {
      throw new KilnError('bad_request', `binding ${binding.field}: the field is given twice`);
    }
    fields.add(binding.field);
  }
}

/** The input with placeholders in its bound fields, for checking it against its type's schema. */
export function withPlaceholders(
  input: Record<string, unknown>,
  bindings: readonly TaskBinding[],
): Record<string, unknown> {
  return { ...input, ...Object.fromEntries(bindings.map((b) => [b.field, bindingPlaceholder])) };
}

/**
 * Fills a ready task's bound fields from its dependencies' outputs and records
 * those artifacts as its inputs. Returns why it cannot, if a dependency's
 * output lacks the artifact id.
 */
export async function fillBindings(db: Db, task: TaskRow): Promise<string | undefined> {
  const bindings = task.bindings ?? [];
  if (bindings.length === 0) {
    return undefined;
  }
  const outputs = await findOutputs(
    db,
    bindings.map((b) => b.task),
  );
  const values: Record<string, number> = {};
  for (const binding of bindings) {
    const value = outputs.get(binding.task)?.[binding.output];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      return `task ${binding.task} has no artifact id in its output ${JSON.stringify(binding.output)}`;
    }
    values[binding.field] = value;
  }
  await db
    .updateTable('tasks')
    .set({ input: JSON.stringify({ ...task.input, ...values }) })
    .where('id', '=', task.id)
    .execute();
  await insertTaskArtifacts(db, task.id, 'input', Object.values(values));
  return undefined;
}
