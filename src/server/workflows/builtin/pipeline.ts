import { Type } from 'typebox';
import { KilnError } from '../../../protocol/errors.ts';
import { Requirements } from '../../../protocol/tasks.schema.ts';
import { defineWorkflow } from '../workflow-types.ts';

const StepName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });

export const PipelineParameters = Type.Object(
  {
    steps: Type.Array(
      Type.Object(
        {
          name: StepName,
          /** A shell command (run with `sh -c`) or an argument vector. */
          command: Type.Union([
            Type.String({ minLength: 1, maxLength: 100000 }),
            Type.Array(Type.String({ maxLength: 100000 }), { minItems: 1, maxItems: 1000 }),
          ]),
          env: Type.Optional(
            Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
              additionalProperties: false,
            }),
          ),
          depends_on: Type.Optional(Type.Array(StepName, { maxItems: 100, uniqueItems: true })),
          requirements: Type.Optional(Requirements),
          time_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 200 },
    ),
  },
  { additionalProperties: false },
);

/**
 * `pipeline`: user-defined steps, each a `shell` task on a worker, run in the
 * order their dependencies give: non-build jobs on the same engine as builds.
 */
export const pipelineWorkflow = defineWorkflow({
  name: 'pipeline',
  description: 'user-defined shell steps with dependencies',
  parameters: PipelineParameters,
  async prepare(_context, parameters) {
    const seen = new Set<string>();
    for (const step of parameters.steps) {
      if (seen.has(step.name)) {
        throw new KilnError('invalid_workflow_parameters', `step ${step.name} is given twice`);
      }
      for (const dependency of step.depends_on ?? []) {
        if (!seen.has(dependency)) {
          throw new KilnError(
            'invalid_workflow_parameters',
            `step ${step.name} depends on ${dependency}, which is not an earlier step`,
          );
        }
      }
      seen.add(step.name);
    }
    return {};
  },
  async advance(context) {
    for (const step of context.parameters.steps) {
      await context.submit(step.name, {
        type: 'shell',
        input: {
          command: step.command,
          ...(step.env === undefined ? {} : { env: step.env }),
        },
        dependsOn: step.depends_on ?? [],
        ...(step.requirements === undefined ? {} : { requirements: step.requirements }),
        ...(step.time_limit === undefined ? {} : { timeLimit: step.time_limit }),
      });
    }
  },
});
