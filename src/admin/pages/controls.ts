import { html, type SafeHtml } from '../html.js';
import type { LoopView } from '../live/sampler.js';
import type { Exchange } from '../routing.js';

/**
 * The controls of one subscription or relay in the overview's last column.
 *
 * This is the place for pause / resume / reset (schema v6, wired in separately): render their
 * forms here with `postForm(exchange, '/subscriptions/pause', { context, name }, …)` for
 * operators only, and add their POST routes beside the others in `pages/routes.ts` and
 * `api/act.ts`. Until then it shows nothing.
 */
export function loopControls(exchange: Exchange, context: string, loop: LoopView): SafeHtml {
  void exchange;
  return html`<span class="placeholder" data-controls="${context}|${loop.name}"></span>`;
}
