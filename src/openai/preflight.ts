/**
 * Each hop's request, validated against its own model before it is sent: the
 * policy says send, skip or refuse (hop-plan.ts); this asks it and records a
 * skip on the call's observer.
 */
import type { ValidateSetting } from '../options.ts';
import { bodyForHop, type HopStep, hopStep } from '../policy/hop-plan.ts';
import { type ValidationProblem, validateRequest } from '../policy/validate.ts';
import type { Call } from './call.ts';
import type { Hop } from './call-types.ts';

/** One call's checks; a model checked once is not counted again for the next hop asking for it. */
export class Preflight {
  private readonly call: Call;
  private readonly validate: ValidateSetting;
  private readonly byModel = new Map<string | undefined, Promise<ValidationProblem | undefined>>();

  constructor(call: Call, validate: ValidateSetting) {
    this.call = call;
    this.validate = validate;
  }

  /** What to do with `hop`, the `hopsAfter` hops behind it left to try. A skip is recorded here. */
  async step(hop: Hop, hopsAfter: number): Promise<HopStep> {
    const problem = await this.problemOf(hop);
    const step = hopStep(hop.index, problem, this.call.state.options.fallbackOn, hopsAfter);
    if (step.kind === 'skip') {
      this.call.observer.hopSkipped({
        index: hop.index,
        ...(hop.model ? { model: hop.model } : {}),
        code: step.problem.code,
        param: step.problem.param,
      });
    }
    return step;
  }

  private problemOf(hop: Hop): Promise<ValidationProblem | undefined> {
    const call = this.call;
    // The primary's model, or the fallback's own: one problem per model the body is sent with.
    const key = (hop.index > 0 ? hop.model : undefined) ?? call.info.model;
    let problem = this.byModel.get(key);
    if (!problem) {
      const body = bodyForHop(call.options.body, hop.index, hop.model);
      problem = validateRequest({ method: call.method, path: call.path, body }, this.validate);
      this.byModel.set(key, problem);
    }
    return problem;
  }
}
