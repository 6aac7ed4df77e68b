/**
 * GET /api/v1/config: the configuration in force, read-only, as `postconf -n` (main.cf
 * parameters set explicitly, unexpanded, sorted by name) and `postconf -M` (master.cf services)
 * show it. Values of parameters whose name says secret or password are replaced by
 * "(hidden)": a token that may read the queue need not read the webhook secret.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { ApiApp, AppState } from "../app.ts";
import { errors, json } from "./common.ts";

const HIDDEN = "(hidden)";
const SECRET_NAME = /secret|passw(or)?d/i;

export const ConfigResponse = z
  .object({
    config_directory: z.string().nullable().openapi({ description: "null: built-in defaults" }),
    main_cf: z.string().nullable(),
    master_cf: z.string().nullable(),
    parameters: z
      .array(
        z.object({
          name: z.string(),
          value: z.string().openapi({ description: "as written in main.cf (postconf -n)" }),
          expanded: z.string().nullable().openapi({ description: "after $name expansion" }),
        }),
      )
      .openapi({ description: "main.cf parameters set explicitly, sorted by name" }),
    services: z
      .array(
        z.object({
          name: z.string(),
          type: z.string(),
          private: z.boolean(),
          unpriv: z.boolean(),
          chroot: z.boolean(),
          wakeup: z.string(),
          maxproc: z.number().int().openapi({ description: "0: no limit" }),
          command: z.string(),
          args: z.array(z.string()),
          overrides: z.record(z.string(), z.string()).openapi({ description: "-o name=value" }),
        }),
      )
      .openapi({ description: "master.cf services in file order" }),
  })
  .openapi("Configuration");

function hide(name: string, value: string): string {
  return SECRET_NAME.test(name) ? HIDDEN : value;
}

export function registerConfigRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/config",
      tags: ["system"],
      summary: "The configuration in force (postconf -n and postconf -M), read-only",
      responses: {
        200: json(ConfigResponse, "main.cf settings and master.cf services"),
        ...errors(401),
      },
    }),
    (c) => {
      const cfg = state.ctx.config();
      const parameters = cfg
        .explicitNames()
        .sort()
        .map((name) => {
          const value = cfg.explicit(name) ?? "";
          let expanded: string | null;
          try {
            expanded = cfg.expand(value);
          } catch {
            expanded = null;
          }
          return {
            name,
            value: hide(name, value),
            expanded: expanded === null ? null : hide(name, expanded),
          };
        });
      const services = cfg.services.map((s) => ({
        name: s.name,
        type: s.type,
        private: s.private,
        unpriv: s.unpriv,
        chroot: s.chroot,
        wakeup: s.wakeup,
        maxproc: s.maxproc,
        command: s.command,
        args: [...s.args],
        overrides: Object.fromEntries(Object.entries(s.overrides).map(([k, v]) => [k, hide(k, v)])),
      }));
      return c.json(
        {
          config_directory: cfg.configDir,
          main_cf: cfg.mainCfPath,
          master_cf: cfg.masterCfPath,
          parameters,
          services,
        },
        200,
      );
    },
  );
}
