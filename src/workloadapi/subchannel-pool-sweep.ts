import type { ChannelInterface } from "@grpc/grpc-js";

/**
 * Stops grpc-js's 10 s subchannel-pool sweep on a channel that has its own pool
 * (`grpc.use_local_subchannel_pool`), before it connects. The sweep is a `setInterval` that
 * runs for as long as the channel holds a subchannel, so an idle sidecar woke every 10 s for
 * nothing (6 of the 6 steady wake-ups a minute: `strace -f -tt`, 2026-12-06). With a pool of
 * its own the sweep has nothing to do: the channel's single target never changes its address,
 * so no subchannel is ever dropped while it lives, and `close()` unreferences every subchannel
 * itself (grpc-js 1.14 `InternalChannel.close` calls `unrefUnusedSubchannels` after it destroys
 * the load balancer).
 *
 * grpc-js exposes no option for this, so it reaches into two private fields; when they are not
 * there (another grpc-js), the sweep stays and this returns false, which a test catches.
 */
export function stopSubchannelPoolSweep(channel: ChannelInterface): boolean {
  const internalChannel: unknown = Reflect.get(channel, "internalChannel");
  if (typeof internalChannel !== "object" || internalChannel === null) return false;
  const pool: unknown = Reflect.get(internalChannel, "subchannelPool");
  if (typeof pool !== "object" || pool === null) return false;
  if (typeof Reflect.get(pool, "ensureCleanupTask") !== "function" || Reflect.get(pool, "cleanupTimer") !== null) return false;
  return Reflect.set(pool, "ensureCleanupTask", () => {});
}
