/**
 * Finds database credentials in Temporal histories. Payloads are base64 inside a history's JSON,
 * so a plain text search of the JSON would miss a DSN: every payload's data is decoded first.
 */
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

/** The history's JSON with every payload's `data` decoded in place, for text search. */
export function decodedHistoryText(historyJson: string): string {
  return historyJson.replace(/"data"\s*:\s*"([A-Za-z0-9+/=]+)"/g, (_, b64: string) => JSON.stringify({ decoded: Buffer.from(b64, 'base64').toString('utf8') }));
}

/** The needles of `dsn` (the DSN itself, its password, any Postgres URL or libpq password) found in `text`. */
export function credentialLeaks(text: string, dsn: string): string[] {
  const password = decodeURIComponent(new URL(dsn).password);
  const needles = [dsn, 'postgres://', 'postgresql://', 'password=', ...(password ? [password] : [])];
  return needles.filter((n) => text.includes(n));
}

/** Decoded text of every execution (continue-as-new included) of each workflow id. */
export async function decodedHistories(client: Client, workflowIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const workflowId of workflowIds) {
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      out.set(`${workflowId}@${execution.runId}`, decodedHistoryText(historyToJSON(history)));
    }
  }
  return out;
}
