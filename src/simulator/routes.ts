/** Which endpoint a request is for, by method and path. */
import type { RouteId } from './types.ts';

const POST_ROUTES: Record<string, RouteId> = {
  '/v1/chat/completions': 'chat.completions',
  '/v1/responses': 'responses',
  '/v1/embeddings': 'embeddings',
};

export function resolveRoute(method: string, pathname: string): RouteId | undefined {
  if (method === 'POST') return POST_ROUTES[pathname];
  // `GET /v1/responses/{id}`: polling a background response.
  if (method === 'GET' && RESPONSE_BY_ID.test(pathname)) return 'responses';
  if (method === 'GET' && (pathname === '/v1/models' || /^\/v1\/models\/[^/]+$/.test(pathname)))
    return 'models';
  return undefined;
}

const RESPONSE_BY_ID = /^\/v1\/responses\/([^/]+)$/;

/** `GET /v1/responses/{id}` asks for one response. */
export function responseIdFromPath(pathname: string): string | undefined {
  const match = RESPONSE_BY_ID.exec(pathname);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/** `GET /v1/models/{id}` asks for one model. */
export function modelIdFromPath(pathname: string): string | undefined {
  const match = /^\/v1\/models\/([^/]+)$/.exec(pathname);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/** The key from `Authorization: Bearer <key>`, if any. */
export function bearerKey(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}
