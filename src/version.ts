/** Kept in step with package.json by a test; used as the tracer and meter version. */
export const VERSION = '0.1.0';
