import OpenAI from 'openai';
import { instrument } from 'retryscope';
import { startTelemetry } from 'retryscope/telemetry';

const telemetry = startTelemetry({ serviceName: 'quickstart' }); // OTLP to localhost:4318 by default
const openai = instrument(new OpenAI(), { maxAttempts: 4 });

const reply = await openai.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello in five words.' }],
});
console.log(reply.choices[0]?.message.content);
await telemetry.shutdown();
