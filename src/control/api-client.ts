/**
 * The control plane's client of the page server's HTTP management API (src/service/routes.ts):
 * JSON in and out; an error answer becomes one ControlError carrying the server's message.
 */
import type { PageServerApi } from './endpoints.js';
import { ControlError } from './workdir.js';

/** An import job's state (src/service/imports.ts), in a timeline's `import` field. */
export interface ImportState {
  readonly kind: 'primary' | 'datadir';
  readonly source: string;
  readonly phase: 'base_backup' | 'copying' | 'following' | 'done' | 'failed';
  readonly readable: boolean;
  readonly bytes_done: number;
  readonly bytes_total: number | null;
  readonly start_lsn: string | null;
  readonly end_lsn: string | null;
  readonly slot?: string;
  readonly following?: string;
  readonly follow_error?: string;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface TimelineInfo {
  readonly tenant_id: string;
  readonly timeline_id: string;
  readonly ancestor_timeline_id: string | null;
  readonly ancestor_lsn: string | null;
  readonly last_record_lsn: string;
  readonly disk_consistent_lsn: string;
  readonly created_at: string;
  readonly import?: ImportState;
}

export interface TimelineNode extends TimelineInfo {
  readonly branch_lsn?: string;
  readonly children: readonly TimelineNode[];
}

export interface TenantInfo {
  readonly tenant_id: string;
  readonly timelines: number;
}

export class ApiClient implements PageServerApi {
  constructor(
    readonly base: string,
    private readonly token?: string,
  ) {}

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}) };
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers: this.headers(), signal: AbortSignal.timeout(timeoutMs), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      throw new ControlError('NOT_RUNNING', `Cannot reach the page server at ${this.base}: ${(e as Error).message} (is it started? "strata start")`, { cause: e });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const msg = (json as { error?: string; message?: string } | undefined)?.message ?? (json as { error?: string } | undefined)?.error ?? text.slice(0, 500);
      throw new ControlError(res.status === 404 ? 'NOT_FOUND' : 'FAILED', `The page server refused ${method} ${path}: ${msg}`);
    }
    return json as T;
  }

  status(): Promise<Record<string, unknown>> {
    return this.call('GET', '/v1/status', undefined, 5_000);
  }

  createTenant(tenantId?: string): Promise<TenantInfo> {
    return this.call('POST', '/v1/tenant', tenantId === undefined ? {} : { new_tenant_id: tenantId });
  }

  listTenants(): Promise<TenantInfo[]> {
    return this.call('GET', '/v1/tenant');
  }

  deleteTenant(tenantId: string): Promise<unknown> {
    return this.call('DELETE', `/v1/tenant/${tenantId}`);
  }

  createTimeline(tenantId: string, body: Record<string, unknown>): Promise<TimelineInfo> {
    return this.call('POST', `/v1/tenant/${tenantId}/timeline`, body, 600_000);
  }

  listTimelines(tenantId: string): Promise<TimelineNode[]> {
    return this.call('GET', `/v1/tenant/${tenantId}/timeline?tree=true`);
  }

  getTimeline(tenantId: string, timelineId: string): Promise<TimelineInfo> {
    return this.call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}`);
  }

  deleteTimeline(tenantId: string, timelineId: string): Promise<unknown> {
    return this.call('DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}`);
  }

  lsnByTimestamp(tenantId: string, timelineId: string, timestamp: string): Promise<{ lsn: string; kind?: string }> {
    return this.call('GET', `/v1/tenant/${tenantId}/timeline/${timelineId}/get_lsn_by_timestamp?timestamp=${encodeURIComponent(timestamp)}`);
  }

  checkpoint(tenantId: string, timelineId: string): Promise<unknown> {
    return this.call('PUT', `/v1/tenant/${tenantId}/timeline/${timelineId}/checkpoint`);
  }

  async baseBackup(tenantId: string, timelineId: string, onChunk: (chunk: Uint8Array) => Promise<void> | void): Promise<string> {
    const path = `/v1/tenant/${tenantId}/timeline/${timelineId}/basebackup`;
    let res: Response;
    try {
      res = await fetch(this.base + path, { headers: this.headers(), signal: AbortSignal.timeout(3_600_000) });
    } catch (e) {
      throw new ControlError('NOT_RUNNING', `Cannot reach the page server at ${this.base}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok || res.body === null) throw new ControlError('FAILED', `The page server refused GET ${path}: ${(await res.text()).slice(0, 500)}`);
    const lsn = res.headers.get('x-strata-lsn') ?? '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) await onChunk(chunk);
    return lsn;
  }

  async follow(tenantId: string, timelineId: string, target: { host: string; port: number; user: string; slot: string }): Promise<void> {
    await this.call('PUT', `/v1/tenant/${tenantId}/timeline/${timelineId}/follow`, target);
  }

  async unfollow(tenantId: string, timelineId: string, waitLsn: string | undefined): Promise<void> {
    await this.call('DELETE', `/v1/tenant/${tenantId}/timeline/${timelineId}/follow${waitLsn === undefined ? '' : `?wait_lsn=${waitLsn}`}`);
  }
}
