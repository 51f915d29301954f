/** OpenAI-shaped identifiers. Random: nothing should depend on their value. */
import { randomBytes } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function hexId(prefix: string, bytes: number): string {
  return `${prefix}${randomBytes(bytes).toString('hex')}`;
}

export function alphanumericId(prefix: string, length: number): string {
  const bytes = randomBytes(length);
  let id = prefix;
  for (const byte of bytes) id += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return id;
}

export const requestId = (): string => hexId('req_', 16);
export const chatCompletionId = (): string => alphanumericId('chatcmpl-', 29);
export const responseId = (): string => hexId('resp_', 24);
export const messageId = (): string => hexId('msg_', 24);
