import { html, type SafeHtml } from '../html.js';
import type { LoopView } from '../live/sampler.js';
import type { Exchange } from '../routing.js';
import { postForm } from './layout.js';

/**
 * The controls of one subscription or relay in the overview's last column, for operators of a
 * context that has them: pause or resume, reset (replay from the origin, skip to the head, or go
 * to an event number or a time), restart a failed one. Each is a request the lease holder carries
 * out between two batches, recorded in the audit log.
 */
export function loopControls(exchange: Exchange, context: string, loop: LoopView): SafeHtml {
  const controls = exchange.panel.settings.contexts.get(context)?.subscriptions;
  if (!controls || exchange.user?.role !== 'operator') return html``;
  const fields = { context, name: loop.name };
  const paused = loop.state === 'paused';
  return html`<div class="controls">
${
  paused
    ? postForm(exchange, '/subscriptions/resume', fields, html`<button type="submit" data-control="resume">Resume</button>`)
    : postForm(exchange, '/subscriptions/pause', fields, html`<input name="reason" placeholder="why" maxlength="500" aria-label="reason to pause ${loop.name}"><button type="submit" data-control="pause">Pause</button>`)
}
${postForm(
  exchange,
  '/subscriptions/reset',
  fields,
  html`<input name="to" placeholder="origin | current | n | time" required maxlength="40" aria-label="reset ${loop.name} to"><button type="submit" data-control="reset">Reset</button>`,
)}
${loop.state === 'failed' ? postForm(exchange, '/subscriptions/restart', fields, html`<button type="submit" data-control="restart">Restart</button>`) : html``}
</div>`;
}
