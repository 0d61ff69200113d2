import { html, query, type SafeHtml, when } from '../html.js';
import type { ContextSnapshot, LoopView } from '../live/sampler.js';
import { type Exchange, link } from '../routing.js';
import { loopControls } from './controls.js';
import { badge, layout, rate, sparkline } from './layout.js';

/** The overview: every context's log, subscriptions, relays, consumers and deliveries, updated live. */
export function overviewPage(exchange: Exchange, snapshots: readonly ContextSnapshot[]): SafeHtml {
  return layout(exchange, 'Overview', html`${snapshots.map((s) => contextSection(exchange, s))}`, { live: true });
}

function contextSection(exchange: Exchange, s: ContextSnapshot): SafeHtml {
  const c = s.context;
  const live = (key: string, value: unknown) => html`<span data-live-key="${c}|${key}">${value}</span>`;
  return html`<section class="card" data-context="${c}">
<h2>${c}</h2>
${s.error ? html`<p class="error">Status could not be read: ${live('|error', s.error)}</p>` : ''}
<dl class="facts">
  <div><dt>Log head</dt><dd>${live('|head', s.head)}</dd></div>
  <div><dt>Sequenced</dt><dd>${live('|headRate', rate(s.headRate))} ${sparkline(`${c}|`, s.headSpark)}</dd></div>
  <div><dt>Unsequenced</dt><dd>${live('|unsequenced', s.unsequenced)}</dd></div>
  <div><dt>Open appends</dt><dd>${live('|openAppends', s.openAppends.length)}</dd></div>
  <div><dt>Sampled</dt><dd class="muted">${live('|sampled', when(s.at))}</dd></div>
</dl>
<h3>What holds the log back</h3>
${holdingBack(exchange, s)}
<h3>Subscriptions and relays</h3>
${s.loops.length === 0 ? html`<p class="muted">None yet.</p>` : loopTable(exchange, s)}
${s.consumers.length > 0 ? consumerTable(exchange, s) : ''}
${s.deliveries.length > 0 ? deliveryTable(s) : ''}
${s.actions.length > 0 ? actionList(exchange, s) : ''}
</section>`;
}

function loopTable(exchange: Exchange, s: ContextSnapshot): SafeHtml {
  const c = s.context;
  return html`<table class="loops">
<thead><tr><th>Name</th><th>Kind</th><th>State</th><th class="num">Position</th><th class="num">Lag</th><th>Throughput</th><th>Lease holder</th><th class="num">Parked</th><th class="num">Blocked streams</th><th>Last error</th><th>Controls</th></tr></thead>
<tbody>${s.loops.map((l) => loopRow(exchange, c, l))}</tbody>
</table>`;
}

function loopRow(exchange: Exchange, c: string, l: LoopView): SafeHtml {
  const key = `${c}|${l.name}|`;
  const failures = link(exchange.panel, `/failures/list${query({ context: c, target: 'events', owner: l.name })}`);
  return html`<tr data-loop="${c}|${l.name}">
<td><code>${l.name}</code></td>
<td>${l.kind}${l.health && !l.health.healthy ? html` ${badge('unhealthy')}` : ''}</td>
<td>${badge(l.state, `${key}state`)}${l.reason ? html`<div class="muted">${l.reason}</div>` : ''}</td>
<td class="num" data-live-key="${key}position">${l.position}</td>
<td class="num" data-live-key="${key}lag">${l.lag}</td>
<td><span data-live-key="${key}rate">${rate(l.rate)}</span> ${sparkline(`${c}|${l.name}`, l.spark)}</td>
<td class="mono" data-live-key="${key}lease">${l.leaseOwner ?? '—'}</td>
<td class="num"><a href="${failures}" data-live-key="${key}parked">${l.parked}</a></td>
<td class="num" data-live-key="${key}blocked">${l.blockedStreams}</td>
<td>${l.lastError ? html`<span title="${when(l.lastError.at)}">${l.lastError.message.slice(0, 120)}</span>` : '—'}</td>
<td>${loopControls(exchange, c, l)}</td>
</tr>`;
}

function consumerTable(exchange: Exchange, s: ContextSnapshot): SafeHtml {
  const c = s.context;
  return html`<h3>Consumers of other contexts</h3>
<table><thead><tr><th>Consumer</th><th>Source</th><th>Here</th><th class="num">Parked</th><th class="num">Scheduled</th><th class="num">Held for order</th></tr></thead>
<tbody>${s.consumers.map((k) => {
    const key = `${c}|consumer:${k.consumer}:${k.source}|`;
    const here = k.local ? (k.local.healthy ? badge('healthy') : badge(k.local.stoppedBy ? 'stopped' : 'unhealthy')) : html`<span class="muted">not in this process</span>`;
    const failures = link(exchange.panel, `/failures/list${query({ context: c, target: 'messages', owner: k.consumer })}`);
    return html`<tr><td><code>${k.consumer}</code></td><td>${k.source}</td><td>${here}</td>
<td class="num"><a href="${failures}" data-live-key="${key}parked">${k.parked}</a></td><td class="num" data-live-key="${key}scheduled">${k.scheduled}</td><td class="num" data-live-key="${key}held">${k.held}</td></tr>`;
  })}</tbody></table>`;
}

function deliveryTable(s: ContextSnapshot): SafeHtml {
  const c = s.context;
  return html`<h3>Deliveries to other services</h3>
<table><thead><tr><th>Consumer</th><th class="num">Handled through</th><th class="num">Pending</th><th class="num">Flagged</th><th>Last acknowledged</th></tr></thead>
<tbody>${s.deliveries.map((d) => {
    const key = `${c}|delivery:${d.consumer}|`;
    return html`<tr><td><code>${d.consumer}</code>${d.expected ? html` <span class="muted">expected</span>` : ''}</td>
<td class="num" data-live-key="${key}handledThrough">${d.handledThrough}</td><td class="num" data-live-key="${key}pending">${d.pending}</td>
<td class="num" data-live-key="${key}flagged">${d.flagged}</td><td>${when(d.lastAcknowledgedAt)}</td></tr>`;
  })}</tbody></table>`;
}

function actionList(exchange: Exchange, s: ContextSnapshot): SafeHtml {
  return html`<h3>Bulk actions not finished</h3><ul>${s.actions.map(
    (a) => html`<li><a href="${link(exchange.panel, `/actions/view${query({ context: s.context, id: a.id })}`)}">Action ${a.id}</a>: ${a.kind} ${a.total} ${a.target} — ${badge(a.status)} by ${a.requestedBy}</li>`,
  )}</ul>`;
}

/** Why events may not flow: open transactions, failed or stalled loops, parked failures, unhealthy relays, flagged deliveries. */
function holdingBack(exchange: Exchange, s: ContextSnapshot): SafeHtml {
  const items: SafeHtml[] = [];
  for (const open of s.openAppends) {
    items.push(
      html`<li>An open transaction (pid ${open.pid}${open.applicationName ? html`, ${open.applicationName}` : ''}) appended and has not ended${open.ageMs !== null ? html` for ${Math.round(open.ageMs / 1000)} s` : ''}${open.state ? html` (${open.state})` : ''}: its events are invisible and its streams' appends wait.</li>`,
    );
  }
  if (s.unsequenced > 0) items.push(html`<li>${s.unsequenced} committed events are not sequenced yet.</li>`);
  for (const l of s.loops) {
    if (l.state === 'failed') items.push(html`<li><code>${l.name}</code> failed${l.reason ? html`: ${l.reason}` : ''}${l.restartAt ? html` (restarts at ${when(l.restartAt)})` : ' (waits for an operator)'}.</li>`);
    if (l.state === 'stalled') items.push(html`<li><code>${l.name}</code> is stalled: its lease holder ${l.leaseOwner ?? ''} stopped renewing.</li>`);
    if (l.parked > 0) {
      const href = link(exchange.panel, `/failures/list${query({ context: s.context, target: 'events', owner: l.name })}`);
      items.push(html`<li><code>${l.name}</code> has <a href="${href}">${l.parked} failed events</a> holding back ${l.blockedStreams} streams.</li>`);
    }
    if (l.health && !l.health.healthy) items.push(html`<li>Relay <code>${l.name}</code> cannot publish: ${l.health.lastError ?? 'broker unreachable'}.</li>`);
  }
  for (const k of s.consumers) if (k.parked > 0) items.push(html`<li>Consumer <code>${k.consumer}</code> has ${k.parked} parked messages.</li>`);
  for (const d of s.deliveries) if (d.flagged > 0) items.push(html`<li>${d.flagged} events not acknowledged by <code>${d.consumer}</code> in time (flagged).</li>`);
  return items.length === 0 ? html`<p class="muted">Nothing holds the log back.</p>` : html`<ul class="holding">${items}</ul>`;
}
