import { SAGA_STATUSES, type SagaInstance } from '../../sagas/inspect.js';
import type { SagaList } from '../api/sagas.js';
import { html, query, type SafeHtml, when } from '../html.js';
import type { Input } from '../input.js';
import { type Exchange, link } from '../routing.js';
import { badge, json, layout } from './layout.js';

/** Longest state shown in the list (the instance's page shows all of it). */
const STATE_SHOWN = 240;

const instanceLink = (exchange: Exchange, context: string, i: Pick<SagaInstance, 'saga' | 'key'>) => link(exchange.panel, `/sagas/instance${query({ context, saga: i.saga, key: i.key })}`);

/** The timeouts an instance waits for: name and when due. */
function timeoutList(timeouts: SagaInstance['timeouts']): SafeHtml {
  if (timeouts.length === 0) return html`<span class="muted">—</span>`;
  return html`<ul class="timeouts">${timeouts.map((t) => html`<li><code>${t.name}</code> due <time datetime="${t.dueAt.toISOString()}">${when(t.dueAt)}</time></li>`)}</ul>`;
}

function shortState(state: unknown): string {
  const text = JSON.stringify(state) ?? 'null';
  return text.length > STATE_SHOWN ? `${text.slice(0, STATE_SHOWN)}…` : text;
}

/** The contexts with what each has, as links (only when the panel has more than one). */
function contextLinks(exchange: Exchange, list: SagaList): SafeHtml {
  if (list.contexts.length < 2) return html``;
  return html`<p class="contexts">${list.contexts.map((c, i) => {
    const count = c.sagas.reduce((n, s) => n + s.active + s.completed + s.compensated, 0);
    const label = !c.available ? 'no saga tables' : c.sagas.length === 0 ? 'no sagas' : `${c.sagas.length} saga${c.sagas.length === 1 ? '' : 's'}, ${count} instances`;
    const name = c.context === list.context ? html`<strong>${c.context}</strong>` : html`<a href="${link(exchange.panel, `/sagas${query({ context: c.context })}`)}">${c.context}</a>`;
    return html`${i > 0 ? ' · ' : ''}${name} <span class="muted">(${label})</span>`;
  })}</p>`;
}

function filterForm(exchange: Exchange, list: SagaList, names: readonly string[]): SafeHtml {
  const { saga, status } = list.filter;
  return html`<form method="get" action="${link(exchange.panel, '/sagas')}" class="filters">
<input type="hidden" name="context" value="${list.context}">
<label>Saga <select name="saga"><option value="">all</option>${names.map((n) => html`<option${n === saga ? html` selected` : ''}>${n}</option>`)}</select></label>
<label>Status <select name="status"><option value="">any</option>${SAGA_STATUSES.map((s) => html`<option${s === status ? html` selected` : ''}>${s}</option>`)}</select></label>
<button type="submit" class="secondary">Filter</button>
</form>`;
}

function summaryTable(exchange: Exchange, list: SagaList, sagas: SagaList['contexts'][number]['sagas']): SafeHtml {
  const filtered = (saga: string, status?: string) => link(exchange.panel, `/sagas${query({ context: list.context, saga, status })}`);
  return html`<table class="sagas"><thead><tr><th>Saga</th><th class="num">Active</th><th class="num">Completed</th><th class="num">Compensated</th><th class="num">Pending timeouts</th><th class="num">Unmatched events</th></tr></thead>
<tbody>${sagas.map(
    (s) => html`<tr data-saga="${s.saga}"><td><a href="${filtered(s.saga)}"><code>${s.saga}</code></a></td>
<td class="num"><a href="${filtered(s.saga, 'active')}">${s.active}</a></td><td class="num"><a href="${filtered(s.saga, 'completed')}">${s.completed}</a></td>
<td class="num"><a href="${filtered(s.saga, 'compensated')}">${s.compensated}</a></td><td class="num">${s.timeouts}</td><td class="num">${s.unmatched}</td></tr>`,
  )}</tbody></table>`;
}

function instanceTable(exchange: Exchange, list: SagaList): SafeHtml {
  return html`<table class="instances"><thead><tr><th>Saga</th><th>Key</th><th>Status</th><th>Steps done</th><th class="num">Version</th><th>Updated</th><th>Pending timeouts</th><th>State</th></tr></thead>
<tbody>${list.instances.map(
    (i) => html`<tr data-instance="${i.saga}|${i.key}"><td><code>${i.saga}</code></td><td><a class="mono" href="${instanceLink(exchange, list.context, i)}">${i.key}</a></td>
<td>${badge(i.status)}${i.reason ? html`<div class="muted">${i.reason}</div>` : ''}</td><td>${i.steps.join(', ') || '—'}</td><td class="num">${i.version}</td><td>${when(i.updatedAt)}</td>
<td>${timeoutList(i.timeouts)}</td><td><code class="state">${shortState(i.state)}</code></td></tr>`,
  )}</tbody></table>`;
}

function unmatchedTable(list: SagaList): SafeHtml {
  if (list.unmatched.length === 0) return html``;
  return html`<h2>Events that found no instance</h2>
<p class="muted">The latest ${list.unmatched.length} events of <code>${list.filter.saga}</code> with no active instance to move (recorded, not lost).</p>
<table><thead><tr><th class="num">Event</th><th>Type</th><th>Key</th><th>Why</th><th>When</th></tr></thead><tbody>${list.unmatched.map(
    (u) => html`<tr><td class="num">${u.eventNumber}</td><td>${u.eventType}</td><td class="mono">${u.key}</td><td>${u.reason}</td><td>${when(u.at)}</td></tr>`,
  )}</tbody></table>`;
}

/** The saga instances of one context: its sagas with counts, a filter by saga and status, and a page of instances. */
export function sagasPage(exchange: Exchange, list: SagaList, fields: Input): SafeHtml {
  const here = list.contexts.find((c) => c.context === list.context)!;
  const next = list.nextCursor
    ? link(exchange.panel, `/sagas${query({ context: list.context, saga: list.filter.saga, status: list.filter.status, cursor: list.nextCursor, limit: fields.limit as string | undefined })}`)
    : null;
  const body = !here.available
    ? html`<p class="muted empty">No saga tables in <code>${list.context}</code>: its schema was migrated before sagas existed (run <code>migrate()</code> to add them).</p>`
    : here.sagas.length === 0
      ? html`<p class="muted empty">No saga has run in <code>${list.context}</code> yet (register one with <code>registerSaga()</code> from <code>herald/sagas</code>).</p>`
      : html`${summaryTable(exchange, list, here.sagas)}
${filterForm(exchange, list, here.sagas.map((s) => s.saga))}
${list.instances.length === 0 ? html`<p class="muted">No instance matches.</p>` : instanceTable(exchange, list)}
${next ? html`<p><a href="${next}" rel="next">Next page</a></p>` : ''}
${unmatchedTable(list)}`;
  return layout(exchange, `Sagas in ${list.context}`, html`${contextLinks(exchange, list)}${body}`);
}

/** One instance: where it is, its steps, the timeouts it waits for, and its whole state. */
export function sagaInstancePage(exchange: Exchange, context: string, i: SagaInstance): SafeHtml {
  const all = link(exchange.panel, `/sagas${query({ context, saga: i.saga })}`);
  return layout(
    exchange,
    `Saga ${i.saga}: ${i.key}`,
    html`<p><a href="${all}">All instances of <code>${i.saga}</code></a></p>
<section class="card"><dl class="facts">
<div><dt>Context</dt><dd>${context}</dd></div>
<div><dt>Status</dt><dd>${badge(i.status)}</dd></div>
${i.reason ? html`<div><dt>Reason</dt><dd>${i.reason}</dd></div>` : ''}
<div><dt>Version</dt><dd>${i.version}</dd></div>
<div><dt>Started</dt><dd>${when(i.startedAt)}</dd></div>
<div><dt>Updated</dt><dd>${when(i.updatedAt)}</dd></div>
<div><dt>Finished</dt><dd>${when(i.finishedAt)}</dd></div>
<div><dt>Steps done</dt><dd>${i.steps.join(', ') || '—'}</dd></div>
</dl></section>
<h2>Pending timeouts</h2>
${
  i.timeouts.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table class="timeouts"><thead><tr><th>Name</th><th>Due at</th><th>Data</th></tr></thead><tbody>${i.timeouts.map(
        (t) => html`<tr><td><code>${t.name}</code></td><td><time datetime="${t.dueAt.toISOString()}">${when(t.dueAt)}</time></td><td class="mono">${JSON.stringify(t.data)}</td></tr>`,
      )}</tbody></table>`
}
<h2>State</h2><pre class="payload">${json(i.state)}</pre>`,
  );
}
