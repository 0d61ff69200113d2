import { LeaseLostError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Lease, RenewedControls } from './lease.js';

/**
 * This process's hold on a lease (a subscription's or a relay's): taken, renewed every third of
 * its time to live, and known lost. A renewal answered for an earlier holding — sent before the
 * lease was lost and taken again — says nothing about the current one, so it is ignored.
 */
export class LeaseHolding {
  /** The lease was lost to another process: checkpoints are refused until it is taken again. */
  lost = false;
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly lease: Lease,
    private readonly logger: Logger,
    /** Told what each renewal read of operators' controls. */
    private readonly renewed: (controls: RenewedControls) => void = () => {},
  ) {}

  /** Takes the lease (see {@link Lease.acquire}) and keeps it renewed; resolves to the stored position, or undefined. */
  async acquire(force: boolean): Promise<number | undefined> {
    const position = await this.lease.acquire(force);
    if (position === undefined) return undefined;
    this.lost = false;
    this.generation++;
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.renew(), Math.max(50, this.lease.ttlMs / 3));
    this.timer.unref();
    return position;
  }

  /** Stops renewing (the lease then expires, unless released). */
  drop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Marks the lease lost and returns the error to throw. */
  loseIt(): LeaseLostError {
    this.lost = true;
    return new LeaseLostError(this.lease.name);
  }

  private async renew(): Promise<void> {
    const generation = this.generation;
    try {
      const controls = await this.lease.renew();
      if (generation !== this.generation) return;
      if (controls) this.renewed(controls);
      else this.lost = true;
    } catch (error) {
      // Keep running: the lease survives a failed renewal until it expires, and fencing protects the checkpoint.
      this.logger.warn({ err: error, lease: this.lease.name }, 'herald: lease renewal failed');
    }
  }
}
