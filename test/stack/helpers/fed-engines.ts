/**
 * The setup of the stack proofs: one `retryscope demo` run exporting metrics
 * to a real VictoriaMetrics and traces to a loopback OTLP receiver, then the
 * same series copied into a real Prometheus 3 that loads the stack's rules.
 */
import type { DemoReport } from '../../../src/demo/report.ts';
import { OtlpReceiver } from '../../helpers/otlp-receiver.ts';
import { type FeedTargets, feedFromDemo } from './demo-feed.ts';
import type { MetricsEngine } from './engine.ts';
import { startPrometheusFrom } from './prometheus.ts';
import { requireTool } from './tools.ts';
import { startVictoriaMetrics } from './victoria-metrics.ts';

const vmBinary = requireTool('victoria-metrics');
const promBinary = requireTool('prometheus');
const promtool = requireTool('promtool');

export interface FedEngines {
  /** VictoriaMetrics, then Prometheus. */
  engines: MetricsEngine[];
  demo: DemoReport;
  /** When every query is evaluated: just after the demo's last export landed. */
  at: number;
  /** Every metric name VictoriaMetrics holds. */
  emitted: Set<string>;
  traceReceiver: OtlpReceiver;
  stop(): Promise<void>;
}

/** Runs the demo (`feed`: its length and extra variables) into both engines. */
export async function feedEngines(feed: Pick<FeedTargets, 'seconds' | 'env'> = {}): Promise<FedEngines> {
  const engines: MetricsEngine[] = [];
  const traceReceiver = await new OtlpReceiver().start();
  const stop = async () => {
    for (const e of engines) await e.stop();
    await traceReceiver.close();
  };
  try {
    const vm = await startVictoriaMetrics(vmBinary);
    engines.push(vm);
    const { report: demo } = await feedFromDemo({
      metricsEndpoint: vm.otlpMetricsUrl,
      tracesBase: traceReceiver.url,
      ...feed,
    });
    await vm.flush();
    const at = Math.ceil(Date.now() / 1000);
    const names = (await (await fetch(`${vm.baseUrl}/api/v1/label/__name__/values`)).json()) as {
      data: string[];
    };
    engines.push(await startPrometheusFrom(promBinary, promtool, vm));
    return { engines, demo, at, emitted: new Set(names.data), traceReceiver, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
