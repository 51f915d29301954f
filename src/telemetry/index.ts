/**
 * `retryscope/telemetry`, the entry point. The OpenTelemetry SDK it starts is
 * an optional peer dependency, so an app that only calls `instrument()` never
 * installs it. setup.ts is loaded (load-setup.ts) with a synchronous require rather than a
 * static import: a static import of a missing package fails while Node links
 * the module graph, before any code of ours runs, with a stack naming
 * whichever package it resolved first. This way the app gets one line with
 * the command that installs all of them, and the entry stays free of
 * top-level await, so CommonJS apps can still `require()` it.
 */
import { loadSetup, type Setup } from './load-setup.ts';

const setup = loadSetup();

export const startTelemetry: Setup['startTelemetry'] = setup.startTelemetry;
export const formatOperation: Setup['formatOperation'] = setup.formatOperation;
export const ConsoleTreeExporter: Setup['ConsoleTreeExporter'] = setup.ConsoleTreeExporter;
export type ConsoleTreeExporter = import('./setup.ts').ConsoleTreeExporter;
export type { TelemetryHandle, TelemetryOptions } from './setup.ts';
