import type { SharedAdmission, SharedAdmit } from './shared-bucket.ts';

/**
 * Where a bucket's fleet-wide state lives. The policy owns the interface
 * (and the decision, see shared-bucket.ts); adapters (Redis) implement it.
 * Every method may reject or time out: the caller then paces locally.
 */
export interface BucketStore {
  /** One atomic booking: the hot path's only round trip. */
  admit(bucket: StoreBucket, input: SharedAdmit): Promise<SharedAdmission>;
  /** A storm's retry-after, for every process. */
  pause(bucket: StoreBucket, now: number, until: number): Promise<void>;
  /** insufficient_quota for the credential, for every process. */
  exhaust(bucket: StoreBucket, now: number, until: number): Promise<void>;
  close(): Promise<void>;
}

/** What names a bucket in a store: never a secret (both parts are fingerprints). */
export interface StoreBucket {
  /** The credential's fingerprint: the hash tag, so a credential's keys share one Cluster slot. */
  credential: string;
  /** A fingerprint of the bucket's full scope (upstream, organization, project, model pool). */
  scope: string;
  /** A fingerprint of the account the quota belongs to (upstream, organization, project); absent, the credential's. */
  account?: string;
}

/** Which limiter a call was paced by: the fleet's, its own, or its own because the fleet's did not answer. */
export type StoreMode = 'redis' | 'local' | 'local-fallback';

/** Redis keys for a bucket: namespaced, Cluster-safe (one hash tag), secret-free. */
export function storeKeys(bucket: StoreBucket, prefix = 'retryscope'): [bucketKey: string, quotaKey: string] {
  const quota = `${prefix}:{${bucket.credential}}:q${bucket.account ? `:${bucket.account}` : ''}`;
  return [`${prefix}:{${bucket.credential}}:b:${bucket.scope}`, quota];
}
