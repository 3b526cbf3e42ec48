/**
 * A typed client of the jupyter_sauce REST API (`{base_url}sauce/api/`).
 *
 * Requests go through ServerConnection, so the token and the XSRF cookie of the
 * page are sent as for every other Jupyter API call. Every error the server sends has
 * one shape (`{error: {status, code, message, field}}`); it becomes an ApiError.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface Capture {
  path: string;
  name: string;
  size: number;
  modified: string;
  sha256: string | null;
  analysed: boolean;
}

export interface Progress {
  phase: string;
  done: number;
  total: number;
  fraction: number | null;
  message: string;
  elapsed: number;
}

export type RunState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface Run {
  id: string;
  path: string;
  rules: string;
  home_net: string[] | null;
  state: RunState;
  progress: Progress | null;
  counts: Record<string, number> | null;
  warnings: string[];
  notices: string[];
  ruleset: Record<string, unknown> | null;
  engine: string | null;
  suricata: string | null;
  error: { code: string; message: string; details: string } | null;
  reused?: boolean;
}

export type Row = Record<string, string | number | null>;

export interface Page {
  total: number;
  unfiltered: number;
  columns: string[];
  rows: Row[];
  filter_description: string;
  notes: string[];
}

export interface Status {
  /** A server setting that keeps the pipeline from working (e.g. an unusable store). */
  error: { status: number; code: string; message: string; field: string | null } | null;
  suricata: {
    available: boolean;
    version: string | null;
    home_net: string[];
    home_net_error: string | null;
    message: string | null;
  };
  ruleset: Record<string, unknown> & { error?: string | null };
  virustotal: {
    mode: 'offline' | 'live';
    key_problem?: string | null;
    quota_used_today: number | null;
    quota_limit: number;
  };
}

export interface Intel {
  rows: Row[];
  notices: string[];
  mode: 'offline' | 'live';
  quota: { used_today: number; limit: number; exhausted: boolean };
}

export type Ranges = {
  exclude_src?: string;
  exclude_dst?: string;
  include_src?: string;
  include_dst?: string;
};

export class ApiError extends Error {
  constructor(
    message: string,
    readonly field: string | null = null
  ) {
    super(message);
  }
}

export class SauceApi {
  constructor(
    private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'sauce/api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch {
      throw new ApiError('The Jupyter server cannot be reached.');
    }
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data?.error;
      if (response.status === 404 && !error) {
        throw new ApiError(
          'The jupyter_sauce server extension is not enabled on this server ' +
            '(see `jupyter server extension list`).'
        );
      }
      throw new ApiError(
        error?.message ?? `The server answered ${response.status}.`,
        error?.field ?? null
      );
    }
    return data as T;
  }

  status(): Promise<Status> {
    return this.request<Status>('status');
  }

  async captures(): Promise<{ captures: Capture[]; truncated: boolean }> {
    return this.request('captures');
  }

  startRun(path: string, homeNet: string, rules: string): Promise<Run> {
    const body: Record<string, string> = { path };
    if (homeNet.trim()) {
      body.home_net = homeNet;
    }
    if (rules.trim()) {
      body.rules = rules.trim();
    }
    return this.request<Run>('runs', { method: 'POST', body: JSON.stringify(body) });
  }

  run(id: string): Promise<Run> {
    return this.request<Run>(`runs/${id}`);
  }

  cancel(id: string): Promise<Run> {
    return this.request<Run>(`runs/${id}`, { method: 'DELETE' });
  }

  page(id: string, table: string, ranges: Ranges, limit: number): Promise<Page> {
    const query: Record<string, string> = { limit: String(limit) };
    for (const [name, value] of Object.entries(ranges)) {
      if (value && value.trim()) {
        query[name] = value;
      }
    }
    return this.request<Page>(`runs/${id}/${table}${URLExt.objectToQueryString(query)}`);
  }

  intel(ips: string[]): Promise<Intel> {
    return this.request<Intel>('intel', { method: 'POST', body: JSON.stringify({ ips }) });
  }
}
