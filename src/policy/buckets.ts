/**
 * Which limiter bucket a request belongs to. OpenAI scopes its rate limits
 * per organization (or project) and per model, and its `x-ratelimit-*`
 * headers describe the model that was asked: one bucket per
 * (upstream, credential, organization, project, model pool).
 */

/** Pools of models that share one limit: pool name → the models in it (the name itself is always one). */
export type ModelGroups = Readonly<Record<string, readonly string[]>>;

export interface BucketScope {
  /** The upstream's base URL. */
  upstream: string;
  /** A short non-reversible fingerprint of the credential, never the credential. */
  credential: string;
  organization?: string | null | undefined;
  project?: string | null | undefined;
  /** The model the request asks for; absent for endpoints without one (files, models). */
  model?: string | undefined;
}

/** The label of the pool a model's requests are paced in: its group's name, else the model itself. */
export function bucketLabel(model: string | undefined, groups: ModelGroups | undefined): string {
  if (model === undefined || model === '') return 'none';
  if (groups) {
    if (Object.hasOwn(groups, model)) return model;
    for (const [pool, members] of Object.entries(groups)) if (members.includes(model)) return pool;
  }
  return model;
}

/** A key that tells buckets apart; holds nothing secret (the credential is already a fingerprint). */
export function bucketKey(scope: BucketScope, groups: ModelGroups | undefined): string {
  return [
    scope.upstream,
    scope.credential,
    scope.organization ?? '',
    scope.project ?? '',
    bucketLabel(scope.model, groups),
  ].join('\u0000');
}

/** The problem with a `modelGroups` value, or undefined when it is usable. */
export function modelGroupsProblem(groups: unknown): { path: string; message: string } | undefined {
  if (groups === null || typeof groups !== 'object' || Array.isArray(groups))
    return {
      path: '',
      message: 'must map a pool name to the models in it, e.g. { "gpt-4o": ["gpt-4o-2024-08-06"] }',
    };
  const owner = new Map<string, string>();
  for (const [pool, members] of Object.entries(groups)) {
    if (pool === '') return { path: '', message: 'has an empty pool name' };
    if (!Array.isArray(members)) return { path: `.${pool}`, message: 'must be an array of model names' };
    for (const [i, model] of members.entries()) {
      if (typeof model !== 'string' || model === '')
        return { path: `.${pool}[${i}]`, message: 'must be a non-empty model name' };
    }
    for (const model of [pool, ...members]) {
      const other = owner.get(model);
      if (other !== undefined && other !== pool)
        return { path: `.${pool}`, message: `lists "${model}", which is already in pool "${other}"` };
      owner.set(model, pool);
    }
  }
  return undefined;
}
