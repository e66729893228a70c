/**
 * ServiceAccount tokens, as the TokenRequest API issues them
 * (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`, authentication.k8s.io/v1
 * TokenRequest): a JWT whose subject is `system:serviceaccount:<ns>:<name>`, bound to the
 * ServiceAccount's uid, valid `spec.expirationSeconds` (default 3600, at least 600) of the
 * sandbox's simulated time. A token authenticates while it has not expired and its
 * ServiceAccount still exists with that uid; the user is then in the groups
 * `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
 *
 * Unlike kube-apiserver (RS256 with the service-account key), tokens are signed HS256 with a
 * per-server secret: clients treat tokens as opaque, so only the issuer has to verify them.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { KubeObject, Store } from '../store.ts';
import type { ResourceContext, ResourceRequest } from './resource-handler.ts';
import type { UserInfo } from './rbac.ts';
import { ApiError, invalid } from './status.ts';
import { invalidValue } from './field-errors.ts';
import { sendJson } from './respond.ts';
import { isoSeconds } from '../time.ts';

export const DEFAULT_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const MIN_EXPIRATION_SECONDS = 600;

export type IssuedToken = { token: string; expirationTimestamp: string };

export type TokenIssuer = {
  issue(namespace: string, name: string, options?: { expirationSeconds?: number; audiences?: string[] }): IssuedToken;
  /** The user a bearer token stands for, or undefined when it is not (or no longer) valid. */
  authenticate(token: string): UserInfo | undefined;
};

type Claims = {
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  iss: string;
  jti: string;
  sub: string;
  'kubernetes.io': { namespace: string; serviceaccount: { name: string; uid: string } };
};

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function serviceAccount(store: Store, namespace: string, name: string): KubeObject | undefined {
  const type = store.findType('', 'serviceaccounts');
  return type ? store.tryGet(type, namespace, name) : undefined;
}

export function createTokenIssuer(store: Store): TokenIssuer {
  const secret = randomBytes(32);
  const sign = (data: string) => createHmac('sha256', secret).update(data).digest('base64url');
  return {
    issue(namespace, name, options = {}) {
      const sa = serviceAccount(store, namespace, name);
      if (!sa)
        throw new ApiError(404, 'NotFound', `serviceaccounts "${name}" not found`, { name, kind: 'serviceaccounts' });
      const nowMs = store.now().getTime();
      const seconds = options.expirationSeconds ?? 3600;
      const claims: Claims = {
        aud: options.audiences?.length ? options.audiences : [DEFAULT_AUDIENCE],
        exp: Math.floor(nowMs / 1000) + seconds,
        iat: Math.floor(nowMs / 1000),
        nbf: Math.floor(nowMs / 1000),
        iss: DEFAULT_AUDIENCE,
        jti: randomUUID(),
        sub: `system:serviceaccount:${namespace}:${name}`,
        'kubernetes.io': { namespace, serviceaccount: { name, uid: sa.metadata.uid ?? '' } },
      };
      const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
      return { token: `${unsigned}.${sign(unsigned)}`, expirationTimestamp: isoSeconds(claims.exp * 1000) };
    },
    authenticate(token) {
      const parts = token.split('.');
      if (parts.length !== 3) return undefined;
      const [header = '', payload = '', signature = ''] = parts;
      const expected = Buffer.from(sign(`${header}.${payload}`));
      const given = Buffer.from(signature);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      let claims: Claims;
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Claims;
      } catch {
        return undefined;
      }
      if (claims.exp * 1000 <= store.now().getTime()) return undefined;
      const { namespace, serviceaccount } = claims['kubernetes.io'];
      const sa = serviceAccount(store, namespace, serviceaccount.name);
      if (!sa || sa.metadata.uid !== serviceaccount.uid) return undefined;
      return {
        username: claims.sub,
        uid: serviceaccount.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      };
    },
  };
}

/** `POST .../serviceaccounts/<name>/token`: 201 with the TokenRequest and its status. */
export function handleTokenRequest(ctx: ResourceContext, r: ResourceRequest, body: unknown): void {
  const name = r.route.name as string;
  const namespace = r.route.namespace as string;
  const spec = ((body as { spec?: unknown } | undefined)?.spec ?? {}) as {
    audiences?: string[];
    expirationSeconds?: number;
    boundObjectRef?: unknown;
  };
  const seconds = spec.expirationSeconds ?? 3600;
  if (seconds < MIN_EXPIRATION_SECONDS)
    throw invalid('TokenRequest', 'authentication.k8s.io', name, [
      invalidValue('spec.expirationSeconds', seconds, 'may not specify a duration less than 10 minutes'),
    ]);
  if (seconds > 2 ** 32)
    throw invalid('TokenRequest', 'authentication.k8s.io', name, [
      invalidValue('spec.expirationSeconds', seconds, 'may not specify a duration larger than 2^32 seconds'),
    ]);
  const audiences = spec.audiences?.length ? spec.audiences : [DEFAULT_AUDIENCE];
  const issued = ctx.tokens.issue(namespace, name, { expirationSeconds: seconds, audiences });
  sendJson(r.res, 201, {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: null },
    spec: { audiences, expirationSeconds: seconds, boundObjectRef: spec.boundObjectRef ?? null },
    status: issued,
  });
}
