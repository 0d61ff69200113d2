import type { ParkedMessage } from '../../consumers/operator.js';
import type { RecordedEvent } from '../../events/types.js';
import type { ParkedEvent } from '../../parking/operator.js';
import type { AttemptRecord } from '../../handlers/failure.js';
import { html, query, type SafeHtml, when } from '../html.js';
import { type Exchange, link } from '../routing.js';
import { badge, json, layout, postForm } from './layout.js';

const ACTIONABLE = new Set(['parked', 'scheduled']);

/** The retry and skip buttons, for operators, while the failure waits for one. */
function actions(exchange: Exchange, path: string, fields: Record<string, string | number>, status: string): SafeHtml {
  if (!ACTIONABLE.has(status)) return html`<p class="muted">No action possible while it is ${status}.</p>`;
  if (exchange.user?.role !== 'operator') return html`<p class="muted">Viewers cannot retry or skip: ask an operator.</p>`;
  return html`<div class="actions">
${postForm(exchange, `${path}/retry`, fields, html`<button type="submit" name="retry">Retry</button>`)}
${postForm(exchange, `${path}/skip`, fields, html`<label>Reason <input name="reason" required maxlength="500"></label> <button type="submit" class="danger" name="skip">Skip</button>`, 'inline')}
</div>`;
}

function attemptTable(attempts: readonly AttemptRecord[]): SafeHtml {
  if (attempts.length === 0) return html`<p class="muted">No attempt recorded.</p>`;
  return html`<table class="attempts"><thead><tr><th class="num">#</th><th>At</th><th>Error</th></tr></thead><tbody>${attempts.map(
    (a, i) => html`<tr><td class="num">${i + 1}</td><td>${a.at}</td><td><code>${a.type}</code>: ${a.message}</td></tr>`,
  )}</tbody></table>`;
}

/** One parked event: the event, the failure, its attempts, and what an operator can do. */
export function parkedEventPage(exchange: Exchange, context: string, item: ParkedEvent, event: RecordedEvent | null): SafeHtml {
  const fields = { context, subscription: item.subscription, eventNumber: item.eventNumber };
  const watch = link(exchange.panel, `/api/failures/event${query(fields)}`);
  const journey = link(exchange.panel, `/journey${query({ context, event: item.eventNumber })}`);
  return layout(
    exchange,
    `Event ${item.eventNumber} in ${item.subscription}`,
    html`<section class="card" data-watch-url="${watch}" data-status="${item.status}">
<dl class="facts">
  <div><dt>Status</dt><dd><span data-watch-status>${badge(item.status)}</span></dd></div>
  <div><dt>Stream</dt><dd>${item.streamId} v${item.streamVersion}</dd></div>
  <div><dt>Type</dt><dd>${item.eventType}</dd></div>
  <div><dt>Attempts</dt><dd>${item.attempts.length}</dd></div>
  <div><dt>First failed</dt><dd>${when(item.firstFailedAt)}</dd></div>
  <div><dt>Last failed</dt><dd>${when(item.lastFailedAt)}</dd></div>
  <div><dt>Next retry</dt><dd>${when(item.retryAt)}</dd></div>
  <div><dt>Fingerprint</dt><dd class="mono">${item.fingerprint ?? '—'}</dd></div>
</dl>
<p>${item.reason ? html`Reason: ${item.reason}. ` : ''}<a href="${journey}">Its journey</a></p>
${actions(exchange, '/failures/event', fields, item.status)}
</section>
<h2>Error</h2>
<p><code>${item.error.type ?? 'Error'}</code>: ${item.error.message ?? ''}</p>
${item.error.stack ? html`<pre class="stack">${item.error.stack}</pre>` : ''}
<h2>Attempt history</h2>
${attemptTable(item.attempts)}
<h2>Payload</h2>
<pre class="payload">${event ? json(event.data) : '(not readable)'}</pre>
<h2>Metadata</h2>
<pre>${event ? json(event.metadata) : ''}</pre>`,
  );
}

/** One stored consumer message: the raw body, the failure, its attempts, and what an operator can do. */
export function parkedMessagePage(exchange: Exchange, context: string, item: ParkedMessage): SafeHtml {
  const fields = { context, consumer: item.consumer, key: item.key };
  const watch = link(exchange.panel, `/api/failures/message${query(fields)}`);
  return layout(
    exchange,
    `Message ${item.key} in ${item.consumer}`,
    html`<section class="card" data-watch-url="${watch}" data-status="${item.status}">
<dl class="facts">
  <div><dt>Status</dt><dd><span data-watch-status>${badge(item.status)}</span></dd></div>
  <div><dt>Source</dt><dd>${item.source ?? '—'}</dd></div>
  <div><dt>Stream</dt><dd>${item.streamId ?? '—'}${item.streamVersion !== null ? html` v${item.streamVersion}` : ''}</dd></div>
  <div><dt>Type</dt><dd>${item.eventType ?? '—'}</dd></div>
  <div><dt>Attempts</dt><dd>${item.attemptCount}</dd></div>
  <div><dt>Received</dt><dd>${when(item.receivedAt)}</dd></div>
  <div><dt>Last failed</dt><dd>${when(item.lastFailedAt)}</dd></div>
  <div><dt>Fingerprint</dt><dd class="mono">${item.fingerprint ?? '—'}</dd></div>
</dl>
${item.reason ? html`<p>Reason: ${item.reason}</p>` : ''}
${actions(exchange, '/failures/message', fields, item.status)}
</section>
<h2>Error</h2>
<p><code>${item.error.type ?? '—'}</code>: ${item.error.message ?? ''}</p>
${item.error.stack ? html`<pre class="stack">${item.error.stack}</pre>` : ''}
<h2>Attempt history</h2>
${attemptTable(item.attempts)}
<h2>Message as received</h2>
<pre class="payload">${item.body ?? '(not UTF-8 text)'}</pre>`,
  );
}
