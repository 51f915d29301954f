#!/usr/bin/env node
/**
 * The `retryscope` command. Only commander and the flag parsers load up
 * front; each command imports what it runs (the OpenTelemetry SDK, the
 * simulator) when it runs, so `--help` answers at once.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { registerDemoCommand } from './demo.ts';
import { EXIT_USAGE, errorLine, reportError } from './flags.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerStackCommand } from './stack.ts';

const program = new Command()
  .name('retryscope')
  .description('An observability-first OpenAI client: every attempt is a span.')
  .version(VERSION)
  .showSuggestionAfterError()
  // Commander's own errors (unknown option, missing value) are reworded below, in the one format.
  .configureOutput({ outputError: () => {} })
  .exitOverride();

registerDemoCommand(program);
registerSimulateCommand(program);
registerStackCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.exitCode !== 0) {
      const [what = '', suggestion] = error.message.replace(/^error: /, '').split('\n');
      const command = program.commands.find((c) => c.name() === process.argv[2]);
      const help = command ? `retryscope ${command.name()} --help` : 'retryscope --help';
      const hint = suggestion?.replace(/^\(|\)$/g, '');
      process.stderr.write(errorLine(what, hint ? `${hint} See ${help}` : `see ${help}`));
      process.exitCode = EXIT_USAGE;
    }
  } else {
    // Anything that escapes a command is still one line, never a stack trace.
    process.exitCode = reportError(error);
  }
}
