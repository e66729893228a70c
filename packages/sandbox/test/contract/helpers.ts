/**
 * Helpers of the contract suite: one request in, status and parsed body out; waiting on a
 * condition; reading a watch stream line by line. Tests talk to the sandbox over HTTP only.
 */

import { createSandbox, type Sandbox } from '../../src/index.ts';

/** A one-node sandbox with istiod 1.25.1 and the namespaces named, and a sender bound to it. */
export async function smallSandbox(
  name: string,
  namespaces: string[] = ['demo'],
): Promise<{ sandbox: Sandbox; send: Send }> {
  const sandbox = await createSandbox({
    scenario: {
      name,
      nodes: 1,
      istio: { revisions: [{ name: '1-25-1', version: '1.25.1' }] },
      namespaces: namespaces.map((n) => ({ name: n })),
    } as never,
  });
  return { sandbox, send: sender(sandbox.url) };
}

export type Reply = { status: number; body: Record<string, unknown>; headers: Headers; text: string };

export type Send = (
  method: string,
  path: string,
  body?: unknown,
  options?: { contentType?: string; accept?: string; token?: string; userAgent?: string },
) => Promise<Reply>;

/** A request function bound to a server URL. */
export function sender(url: string): Send {
  return async (method, path, body, options = {}) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    if (options.accept) headers.accept = options.accept;
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.userAgent) headers['user-agent'] = options.userAgent;
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = {};
    }
    return { status: response.status, body: parsed, headers: response.headers, text };
  };
}

export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export type WatchLine = { type: string; object: Record<string, unknown> & { metadata?: Record<string, unknown> } };

/** An open watch: lines as they arrive, the raw text, whether the server ended it, and how. */
export type OpenStream = {
  lines: WatchLine[];
  text(): string;
  ended: Promise<'ended' | 'error'>;
  close(): void;
};

export async function openWatch(url: string, path: string, init: RequestInit = {}): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${url}${path}`, { ...init, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const lines: WatchLine[] = [];
  let raw = '';
  let buffer = '';
  const ended = (async (): Promise<'ended' | 'error'> => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'ended';
        const chunk = decoder.decode(value, { stream: true });
        raw += chunk;
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line !== '') lines.push(JSON.parse(line) as WatchLine);
        }
      }
    } catch {
      return 'error';
    }
  })();
  return { lines, text: () => raw, ended, close: () => controller.abort() };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A minimal valid Deployment. */
export function deploymentBody(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] },
      },
    },
    ...extra,
  };
}
