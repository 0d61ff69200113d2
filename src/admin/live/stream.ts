import type { ServerResponse } from 'node:http';
import type { Route } from '../routing.js';
import type { ContextSnapshot } from './sampler.js';

/**
 * Live updates: a server-sent event stream of every sample round (`event: status`, the contexts'
 * snapshots as JSON), for the panel's script to update the page in place. It ends when the session
 * does (sign-out, expiry) or the panel closes.
 */
export class LiveStreams {
  private readonly open = new Set<ServerResponse>();

  add(res: ServerResponse): void {
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
  }

  closeAll(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }
}

function send(res: ServerResponse, snapshots: readonly ContextSnapshot[]): void {
  res.write(`event: status\ndata: ${JSON.stringify({ contexts: snapshots })}\n\n`);
}

export function liveRoute(streams: LiveStreams): Route {
  return {
    method: 'GET',
    path: '/live',
    access: 'viewer',
    api: true,
    async handle({ req, res, panel, session, url }) {
      if (url.search !== '') {
        res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        return void res.end('no query fields');
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      const alive = () => session !== undefined && panel.sessions.alive(session.id);
      const stop = panel.sampler.listen((snapshots) => {
        if (!alive()) return void res.end();
        send(res, snapshots);
      });
      const ping = setInterval(() => (alive() ? res.write(': ping\n\n') : res.end()), 15_000);
      ping.unref();
      req.on('close', () => {
        stop();
        clearInterval(ping);
      });
      send(res, await panel.sampler.latest());
    },
  };
}
