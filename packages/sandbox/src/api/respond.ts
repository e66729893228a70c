/**
 * Writing responses and reading bodies. Every response carries `Cache-Control: no-cache,
 * private`: without it kubectl's HTTP cache keeps the dispatcher's `/version` probe for two hours.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify as toYaml } from 'yaml';
import { ApiError, failureStatus } from './status.ts';

export const JSON_TYPE = 'application/json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
  contentType = JSON_TYPE,
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A response in the negotiated format (see negotiation.ts): JSON, or YAML when that was asked for. */
export function sendObject(
  res: ServerResponse,
  code: number,
  body: unknown,
  output: { format: 'json' | 'yaml' },
): void {
  if (output.format === 'json') return sendJson(res, code, body);
  const text = toYaml(body);
  res.writeHead(code, { 'Content-Type': 'application/yaml', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** What the real server answers for a path no handler owns (also unknown group-versions). */
export function sendPageNotFound(res: ServerResponse): void {
  sendText(res, 404, '404 page not found\n');
}

export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(
    res,
    error.code,
    failureStatus(error.code, error.reason, error.message, error.details, error.metadata),
    error.headers,
  );
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 16MiB', {});
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
