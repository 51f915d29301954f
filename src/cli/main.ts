#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerDemoCommand } from './demo.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerStackCommand } from './stack.ts';

const program = new Command()
  .name('retryscope')
  .description('An observability-first OpenAI client: every attempt is a span.')
  .version(VERSION)
  .showSuggestionAfterError();

registerDemoCommand(program);
registerSimulateCommand(program);
registerStackCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Anything that escapes a command is still one line, never a stack trace.
  process.stderr.write(`retryscope: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
