import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT_FAILURE, reportError } from '../../src/cli/flags.ts';

describe("the CLI's last-resort error line", () => {
  afterEach(() => vi.restoreAllMocks());

  it('quotes no credentials from a URL inside an unexpected error', () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const code = reportError(
      new Error('fetch failed for https://user:hunter2@proxy.example:8443/v1?api-key=sk-secret#frag'),
    );
    expect(code).toBe(EXIT_FAILURE);
    expect(written).toEqual(['retryscope: fetch failed for https://proxy.example:8443/v1\n']);
  });
});
