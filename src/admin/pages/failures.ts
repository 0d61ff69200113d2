import type { FlaggedDelivery } from '../../deliveries/journal.js';
import type { FailureGroup, FailurePage } from '../../operations/failures.js';
import type { FailureFilter, FailureTarget } from '../../operations/filter.js';
import { html, query, type SafeHtml, when } from '../html.js';
import type { Input } from '../input.js';
import { type Exchange, link } from '../routing.js';
import { badge, layout } from './layout.js';

type Failures = { context: string; events: readonly FailureGroup[]; messages: readonly FailureGroup[]; flagged: readonly FlaggedDelivery[] };

/** Open failures of every context, grouped by fingerprint, and deliveries flagged for review. */
export function failuresPage(exchange: Exchange, all: readonly Failures[]): SafeHtml {
  return layout(
    exchange,
    'Failures',
    html`${all.map(
      (f) => html`<section class="card"><h2>${f.context}</h2>
<h3>Parked events of subscriptions and relays</h3>${groupTable(exchange, f.context, f.events)}
<h3>Parked messages of consumers</h3>${groupTable(exchange, f.context, f.messages)}
<h3>Deliveries flagged for review</h3>${flaggedTable(exchange, f.context, f.flagged)}
</section>`,
    )}`,
  );
}

function groupTable(exchange: Exchange, context: string, groups: readonly FailureGroup[]): SafeHtml {
  if (groups.length === 0) return html`<p class="muted">None.</p>`;
  return html`<table class="groups"><thead><tr><th>${groups[0]!.target === 'events' ? 'Subscription' : 'Consumer'}</th><th>Fingerprint</th><th>Event type</th><th>Error</th><th class="num">Count</th><th>First seen</th><th>Last seen</th></tr></thead>
<tbody>${groups.map((g) => {
    const href = link(exchange.panel, `/failures/list${query({ context, target: g.target, owner: g.owner, fingerprint: g.fingerprint ?? 'none' })}`);
    return html`<tr><td><code>${g.owner}</code></td><td><a class="mono" href="${href}">${g.fingerprint ?? '(none)'}</a></td><td>${g.eventType ?? html`<span class="muted">several</span>`}</td>
<td>${g.errorType ? html`<code>${g.errorType}</code> ` : ''}${(g.sample ?? '').slice(0, 160)}</td><td class="num"><a href="${href}">${g.count}</a></td><td>${when(g.firstSeen)}</td><td>${when(g.lastSeen)}</td></tr>`;
  })}</tbody></table>`;
}

function flaggedTable(exchange: Exchange, context: string, flagged: readonly FlaggedDelivery[]): SafeHtml {
  if (flagged.length === 0) return html`<p class="muted">None.</p>`;
  return html`<table><thead><tr><th>Consumer</th><th class="num">Event</th><th>Type</th><th>Stream</th><th>Committed</th></tr></thead>
<tbody>${flagged.map(
    (f) => html`<tr><td><code>${f.consumer}</code></td><td class="num"><a href="${link(exchange.panel, `/journey${query({ context, event: f.eventNumber })}`)}">${f.eventNumber}</a></td><td>${f.type}</td><td>${f.streamId}</td><td>${when(f.createdAt)}</td></tr>`,
  )}</tbody></table>`;
}

/** The query fields that describe a filter (for links that keep it). */
export function filterQuery(context: string, target: FailureTarget, filter: FailureFilter): Record<string, string | undefined> {
  return {
    context,
    target,
    owner: filter.owner,
    eventType: filter.eventType,
    streamId: filter.streamId,
    fingerprint: filter.fingerprint === null ? 'none' : filter.fingerprint,
    since: filter.since?.toISOString(),
    until: filter.until?.toISOString(),
  };
}

/** One page of open failures matching a filter, with links to each and to a bulk action on the filter. */
export function failureListPage(exchange: Exchange, context: string, filter: FailureFilter, page: FailurePage, fields: Input): SafeHtml {
  const kept = filterQuery(context, page.target, filter);
  const bulk = link(exchange.panel, `/bulk${query(kept)}`);
  const next = page.nextCursor ? link(exchange.panel, `/failures/list${query({ ...kept, cursor: page.nextCursor, limit: fields.limit as string | undefined })}`) : null;
  const rows =
    page.target === 'events'
      ? page.items.map((p) => {
          const href = link(exchange.panel, `/failures/event${query({ context, subscription: p.subscription, eventNumber: p.eventNumber })}`);
          return html`<tr><td class="num"><a href="${href}">${p.eventNumber}</a></td><td><code>${p.subscription}</code></td><td>${p.streamId} v${p.streamVersion}</td><td>${p.eventType}</td>
<td>${badge(p.status)}</td><td class="num">${p.attempts.length}</td><td>${when(p.lastFailedAt)}</td><td>${(p.error.message ?? p.reason ?? '').slice(0, 140)}</td></tr>`;
        })
      : page.items.map((m) => {
          const href = link(exchange.panel, `/failures/message${query({ context, consumer: m.consumer, key: m.key })}`);
          return html`<tr><td><a class="mono" href="${href}">${m.key}</a></td><td><code>${m.consumer}</code></td><td>${m.streamId ?? '—'}${m.streamVersion !== null ? html` v${m.streamVersion}` : ''}</td><td>${m.eventType ?? '—'}</td>
<td>${badge(m.status)}</td><td class="num">${m.attemptCount}</td><td>${when(m.lastFailedAt ?? m.parkedAt)}</td><td>${(m.error.message ?? m.reason ?? '').slice(0, 140)}</td></tr>`;
        });
  return layout(
    exchange,
    `Open failures in ${context}`,
    html`<p class="muted">${page.target === 'events' ? 'Parked events' : 'Consumer messages'}${filter.owner ? html` of <code>${filter.owner}</code>` : ''}${filter.fingerprint !== undefined ? html`, fingerprint <code>${filter.fingerprint ?? '(none)'}</code>` : ''}${filter.eventType ? html`, type ${filter.eventType}` : ''}${filter.streamId ? html`, stream ${filter.streamId}` : ''}.</p>
<p class="actions"><a href="${bulk}">Retry or skip all that match…</a></p>
${rows.length === 0 ? html`<p class="muted">None open.</p>` : html`<table class="failures"><thead><tr><th>${page.target === 'events' ? 'Event' : 'Message'}</th><th>${page.target === 'events' ? 'Subscription' : 'Consumer'}</th><th>Stream</th><th>Type</th><th>Status</th><th class="num">Attempts</th><th>Last failed</th><th>Error</th></tr></thead><tbody>${rows}</tbody></table>`}
${next ? html`<p><a href="${next}" rel="next">Next page</a></p>` : ''}`,
  );
}
