import { binNmuWorkflow } from './builtin/binnmu.ts';
import { debianPipelineWorkflow } from './builtin/debian-pipeline.ts';
import { pipelineWorkflow } from './builtin/pipeline.ts';
import { rebuildReverseDepsWorkflow } from './builtin/rebuild-reverse-deps.ts';
import type { WorkflowType } from './workflow-types.ts';

/** The workflows every kiln server has. */
export const builtinWorkflows: readonly WorkflowType[] = [
  debianPipelineWorkflow,
  binNmuWorkflow,
  rebuildReverseDepsWorkflow,
  pipelineWorkflow,
];
