#!/usr/bin/env node
import { Command } from 'commander';
import { registerSimulateCommand } from './simulate.ts';

const program = new Command()
  .name('retryscope')
  .description('An observability-first OpenAI client: every attempt is a span.')
  .showHelpAfterError();

registerSimulateCommand(program);

await program.parseAsync(process.argv);
