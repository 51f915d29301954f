/**
 * The overhead benchmark's server, run as a CHILD process so that the
 * benchmark process's CPU time is the client's alone: every request gets
 * the same 200 chat completion, with OpenAI's headers (rate limits far out
 * of reach). Prints `PORT <n>` when listening; exits when its parent goes.
 */
import { createServer } from 'node:http';

const body = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [
    { index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop' },
  ],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
});
let served = 0;

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    served++;
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': `req_${served}`,
      'openai-processing-ms': '1',
      'x-ratelimit-limit-requests': '1000000',
      'x-ratelimit-limit-tokens': '1000000000',
      'x-ratelimit-remaining-requests': '999999',
      'x-ratelimit-remaining-tokens': '999999000',
      'x-ratelimit-reset-requests': '0s',
      'x-ratelimit-reset-tokens': '0s',
    });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.stdout.write(`PORT ${address.port}\n`);
});
// The parent closes our stdin when it is done, or dies: either way, go.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
