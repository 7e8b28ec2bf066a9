import type {
  RunTrigger,
  Run,
  RunEvent,
  RunSummary,
  WorkflowTemplate,
} from '../../protocol/workflows.schema.ts';
import { failedByItself } from './run-status.ts';
import type {
  EventWithNames,
  RunTaskRow,
  RunWithNames,
  TemplateWithNames,
} from './workflow.repository.ts';

export function toTemplate(row: TemplateWithNames): WorkflowTemplate {
  return {
    id: row.id,
    workspace: row.workspace_name,
    name: row.name,
    workflow: row.workflow,
    parameters: row.parameters,
    max_retries: row.max_retries,
    created_by: row.creator,
    created_at: row.created_at.toISOString(),
  };
}

export function toRunSummary(row: RunWithNames): RunSummary {
  return {
    id: row.id,
    workspace: row.workspace_name,
    template: row.template_name,
    workflow: row.workflow,
    status: row.status,
    result: row.result,
    message: row.message,
    trigger: row.trigger as RunTrigger,
    created_by: row.creator,
    created_at: row.created_at.toISOString(),
    completed_at: row.completed_at?.toISOString() ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
    superseded_by: row.superseded_by,
    parent_run: row.parent_run_id,
  };
}

export function toRun(row: RunWithNames, tasks: readonly RunTaskRow[]): Run {
  return {
    ...toRunSummary(row),
    parameters: row.parameters,
    artifact: row.artifact_id,
    tasks: tasks.map((t) => ({
      id: t.id,
      step: t.step ?? `task-${t.id}`,
      type: t.type,
      state: t.state,
      result: t.result,
      reason: t.reason,
      message: t.message,
      depends_on: t.depends_on.map(Number),
      retries: t.retries,
      architecture: t.host_architecture ?? t.architecture,
      started_at: t.started_at?.toISOString() ?? null,
      completed_at: t.completed_at?.toISOString() ?? null,
    })),
    failed_tasks: tasks.filter(failedByItself).map((t) => t.id),
  };
}

export function toRunEvent(row: EventWithNames): RunEvent {
  return {
    id: row.id,
    run: row.run_id,
    workspace: row.workspace_name,
    kind: row.kind,
    task: row.task_id,
    data: row.data,
    created_at: row.created_at.toISOString(),
  };
}
