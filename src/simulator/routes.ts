/** Which endpoint a request is for, by method and path. */
import type { RouteId } from './types.ts';

const POST_ROUTES: Record<string, RouteId> = {
  '/v1/chat/completions': 'chat.completions',
  '/v1/responses': 'responses',
  '/v1/embeddings': 'embeddings',
};

export function resolveRoute(method: string, pathname: string): RouteId | undefined {
  if (method === 'POST') return POST_ROUTES[pathname];
  if (method === 'GET' && (pathname === '/v1/models' || /^\/v1\/models\/[^/]+$/.test(pathname)))
    return 'models';
  return undefined;
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
