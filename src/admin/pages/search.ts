import type { AuditEntry } from '../../operations/audit.js';
import type { Journey, ReceivedStep } from '../../operations/journey.js';
import type { SearchPage, SearchQuery } from '../../operations/search.js';
import { html, query, type SafeHtml, when } from '../html.js';
import type { Input } from '../input.js';
import { type Exchange, link } from '../routing.js';
import { badge, json, layout } from './layout.js';

function contextPicker(contexts: readonly string[], context: string): SafeHtml {
  return contexts.length > 1 ? html`<label>Context <select name="context">${contexts.map((c) => html`<option${c === context ? html` selected` : ''}>${c}</option>`)}</select></label>` : html`<input type="hidden" name="context" value="${context}">`;
}

/** Search of the log: the form, and a page of results newest first with a link to the next. */
export function searchPage(exchange: Exchange, contexts: readonly string[], context: string, q: SearchQuery, page: SearchPage | null, fields: Input): SafeHtml {
  const input = (name: keyof SearchQuery, label: string, value: unknown, hint = '') =>
    html`<label>${label} <input name="${name}" value="${value instanceof Date ? value.toISOString() : (value ?? '')}" placeholder="${hint}"></label>`;
  const kept: Record<string, string | undefined> = { context };
  for (const [key, value] of Object.entries(q)) kept[key] = value instanceof Date ? value.toISOString() : String(value);
  const next = page?.nextCursor ? link(exchange.panel, `/search${query({ ...kept, cursor: page.nextCursor, limit: fields.limit as string | undefined })}`) : null;
  return layout(
    exchange,
    'Search the log',
    html`<form method="get" action="${link(exchange.panel, '/search')}" class="filters">
${contextPicker(contexts, context)}
${input('eventId', 'Event id', q.eventId, 'UUID')}${input('eventNumber', 'Event number', q.eventNumber)}${input('streamId', 'Stream', q.streamId)}
${input('correlationId', 'Correlation id', q.correlationId)}${input('causationId', 'Causation id', q.causationId)}${input('type', 'Type', q.type)}
${input('since', 'Since', q.since, '2024-05-01T00:00Z')}${input('until', 'Until', q.until)}
<button type="submit">Search</button>
</form>
${
  !page
    ? ''
    : page.events.length === 0
      ? html`<p class="muted">No event matches.</p>`
      : html`<table class="results"><thead><tr><th class="num">Number</th><th>Event id</th><th>Type</th><th>Stream</th><th>Correlation</th><th>Created</th></tr></thead><tbody>${page.events.map(
          (e) => html`<tr><td class="num">${e.eventNumber ?? html`<span class="muted">not yet</span>`}</td><td><a class="mono" href="${link(exchange.panel, `/journey${query({ context, event: e.eventId })}`)}">${e.eventId}</a></td>
<td>${e.type}</td><td>${e.streamId} v${e.streamVersion}</td><td class="mono">${e.correlationId ?? '—'}</td><td>${when(e.createdAt)}</td></tr>`,
        )}</tbody></table>`
}
${next ? html`<p><a href="${next}" rel="next">Older</a></p>` : ''}`,
  );
}

/** An event's journey: committed, each subscription and relay, consumers of other services, and the panel's other contexts that consume it. */
export function journeyPage(exchange: Exchange, context: string, journey: Journey & { received: readonly { context: string; consumers: readonly ReceivedStep[] }[] }): SafeHtml {
  const e = journey.event;
  const parkedLink = (subscription: string) => link(exchange.panel, `/failures/event${query({ context, subscription, eventNumber: e.metadata.eventNumber })}`);
  return layout(
    exchange,
    `Event ${e.metadata.eventNumber || e.metadata.eventId} in ${context}`,
    html`<section class="card"><dl class="facts">
<div><dt>Committed</dt><dd>${when(e.metadata.createdAt)}</dd></div>
<div><dt>Number</dt><dd>${journey.sequenced ? e.metadata.eventNumber : 'not sequenced yet'}</dd></div>
<div><dt>Type</dt><dd>${e.type}</dd></div><div><dt>Stream</dt><dd>${e.metadata.streamId} v${e.metadata.streamVersion}</dd></div>
<div><dt>Event id</dt><dd class="mono">${e.metadata.eventId}</dd></div><div><dt>Correlation</dt><dd class="mono">${e.metadata.correlationId ?? '—'}</dd></div>
</dl></section>
<h2>Subscriptions and relays</h2>
${
  journey.subscriptions.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table class="journey"><thead><tr><th>Name</th><th>Status</th><th class="num">Position</th><th>Detail</th></tr></thead><tbody>${journey.subscriptions.map(
        (s) => html`<tr><td><code>${s.subscription}</code></td><td>${['handled', 'not-yet', 'waiting'].includes(s.status) ? badge(s.status) : html`<a href="${parkedLink(s.subscription)}">${badge(s.status)}</a>`}</td>
<td class="num">${s.position}</td><td>${s.error ?? s.reason ?? ''}</td></tr>`,
      )}</tbody></table>`
}
<h2>Consumers in other services</h2>
${
  journey.consumers.length === 0
    ? html`<p class="muted">No consumer acknowledged events of this context, and none is expected.</p>`
    : html`<table class="deliveries"><thead><tr><th>Consumer</th><th>Status</th><th>Handled</th></tr></thead><tbody>${journey.consumers.map(
        (c) => html`<tr><td><code>${c.consumer}</code></td><td>${badge(c.status)}</td><td>${when(c.handledAt)}</td></tr>`,
      )}</tbody></table>`
}
${journey.received.map(
  (r) => html`<h3>In ${r.context}</h3><table><thead><tr><th>Consumer</th><th>Status</th><th>Reason</th></tr></thead><tbody>${r.consumers.map(
    (c) => html`<tr><td><code>${c.consumer}</code></td><td>${badge(c.status)}</td><td>${c.reason ?? ''}</td></tr>`,
  )}</tbody></table>`,
)}
<h2>Payload</h2><pre class="payload">${json(e.data)}</pre>
<h2>Metadata</h2><pre>${json(e.metadata)}</pre>`,
  );
}

/** The audit log of one context, newest first. */
export function auditPage(exchange: Exchange, contexts: readonly string[], context: string, entries: readonly AuditEntry[], nextCursor: string | null, fields: Input): SafeHtml {
  const next = nextCursor ? link(exchange.panel, `/audit${query({ context, actor: fields.actor as string, action: fields.action as string, cursor: nextCursor })}`) : null;
  return layout(
    exchange,
    'Audit log',
    html`<form method="get" action="${link(exchange.panel, '/audit')}" class="filters">${contextPicker(contexts, context)}
<label>Who <input name="actor" value="${fields.actor ?? ''}"></label><label>What <input name="action" value="${fields.action ?? ''}" placeholder="event.retry"></label><button type="submit" class="secondary">Filter</button></form>
${
  entries.length === 0
    ? html`<p class="muted">Nothing recorded.</p>`
    : html`<table class="audit"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Target</th><th>Filter</th><th class="num">Count</th><th>Outcome</th></tr></thead><tbody>${entries.map(
        (a) => html`<tr><td>${when(a.at)}</td><td>${a.actor}</td><td><code>${a.action}</code></td><td>${a.target ?? '—'}</td><td class="mono">${a.filter ? JSON.stringify(a.filter) : '—'}</td><td class="num">${a.count ?? '—'}</td><td>${a.outcome}</td></tr>`,
      )}</tbody></table>`
}
${next ? html`<p><a href="${next}" rel="next">Older</a></p>` : ''}`,
  );
}
