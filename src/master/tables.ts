/**
 * The `users:` lookup table: the posteix user table (in the queue database) seen as a
 * virtual_mailbox_maps table. `users:` maps alice@example.com to `example.com/alice/` (a Maildir
 * under $virtual_mailbox_base) when that user exists; plain logins (no @) are not mailboxes.
 */
import { registerTableType } from "../config/tables.ts";
import type { LookupTable } from "../config/types.ts";
import { openQueue, type QueueStore } from "../queue/index.ts";

const shared = new Map<string, QueueStore>();

/** Let `users:` tables use this open store instead of opening the database again. */
export function registerQueueTables(store?: QueueStore, directory?: string): void {
  if (store && directory) shared.set(directory, store);
  registerTableType("users", (_name, ctx, spec): LookupTable => {
    let queue: QueueStore | null = null;
    const get = (): QueueStore => {
      if (queue) return queue;
      const dir = ctx.config ? ctx.config.path("queue_directory") : ".";
      queue = shared.get(dir) ?? store ?? openQueue({ directory: dir });
      shared.set(dir, queue);
      return queue;
    };
    return {
      spec,
      lookup(key: string): string | undefined {
        const at = key.lastIndexOf("@");
        if (at <= 0 || at === key.length - 1) return undefined;
        const user = get().users.get(key.toLowerCase());
        if (!user) return undefined;
        return `${key.slice(at + 1).toLowerCase()}/${key.slice(0, at).toLowerCase()}/`;
      },
    };
  });
}
