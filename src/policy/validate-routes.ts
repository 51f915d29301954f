/**
 * The requests whose bodies pre-flight validation knows: the create calls of
 * four endpoints, by method and path. Every other request (retrieving,
 * deleting, cancelling or listing a response, `GET /chat/completions/{id}`,
 * files, audio, a path of the caller's own through `client.request()`) is sent
 * untouched: the body of an endpoint the checks were not written for is the
 * server's to judge.
 */
export type Endpoint = 'chat.completions' | 'responses' | 'embeddings' | 'completions';

// Azure OpenAI routes a deployment's requests as /deployments/{name}/…, for
// the endpoints the SDK's AzureOpenAI rewrites that way (chat, completions and
// embeddings among them; not /responses, which Azure serves on its v1 path).
const DEPLOYMENT = '(?:/deployments/[^/]+)?';

export const ROUTES: ReadonlyArray<{ method: 'post'; path: RegExp; endpoint: Endpoint }> = [
  { method: 'post', path: new RegExp(`^${DEPLOYMENT}/chat/completions$`), endpoint: 'chat.completions' },
  { method: 'post', path: /^\/responses$/, endpoint: 'responses' },
  { method: 'post', path: new RegExp(`^${DEPLOYMENT}/embeddings$`), endpoint: 'embeddings' },
  { method: 'post', path: new RegExp(`^${DEPLOYMENT}/completions$`), endpoint: 'completions' },
];

/**
 * The endpoint a request creates on, or `undefined` when the validator does
 * not know its body. A query string, a fragment and trailing slashes are
 * ignored; an absolute URL (which `client.request()` accepts) is not matched,
 * since its path is not relative to the client's base URL.
 */
export function endpointOf(method: unknown, path: unknown): Endpoint | undefined {
  if (typeof method !== 'string' || typeof path !== 'string') return undefined;
  const verb = method.toLowerCase();
  const bare = routePath(path);
  for (const route of ROUTES) {
    if (route.method === verb && route.path.test(bare)) return route.endpoint;
  }
  return undefined;
}

function routePath(path: string): string {
  let end = path.length;
  const query = path.search(/[?#]/);
  if (query !== -1) end = query;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}
