/**
 * GET /api/v1/dns-check: the deliverability check (src/dnscheck) of the configured domains, or
 * of those named in ?domain=, as `posteix check --dns --json` prints it. Takes as long as the
 * lookups take (seconds when a server does not answer).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CHECK_KINDS, checkDeliverability, DnsCheckInputError } from "../../dnscheck/index.ts";
import type { ApiApp, AppState } from "../app.ts";
import { badRequest } from "../errors.ts";
import { errors, json } from "./common.ts";

const stringList = z.union([z.string(), z.array(z.string())]);

export const DnsCheckQuery = z.object({
  domain: stringList.optional().openapi({
    description: "domains to check (repeat, or comma-separated); default: those of main.cf",
    example: "example.com",
  }),
  address: stringList.optional().openapi({
    description: "addresses mail leaves from (repeat, or comma-separated); default: $myhostname's",
    example: "203.0.113.25",
  }),
  fetch_policy: z.enum(["true", "false"]).optional().openapi({
    description: "fetch MTA-STS policy files over HTTPS (default true)",
  }),
});

const CheckSchema = z
  .object({
    kind: z.enum(CHECK_KINDS),
    domain: z.string().nullable().openapi({ description: "null: $myhostname's own records" }),
    name: z.string().openapi({ example: "_dmarc.example.com" }),
    status: z.enum(["ok", "missing", "wrong", "error"]),
    found: z.array(z.string()).openapi({ description: "what DNS holds there" }),
    detail: z.string(),
    publish: z
      .array(z.string())
      .openapi({ description: "zone-file lines to publish to make it OK" }),
  })
  .openapi("DnsCheck");

export const DnsCheckResponse = z
  .object({
    hostname: z.string(),
    addresses: z.array(z.string()),
    domains: z.array(
      z.object({
        name: z.string(),
        roles: z.array(z.enum(["receive", "send"])),
        sources: z.array(z.string()),
      }),
    ),
    checks: z.array(CheckSchema),
    ok: z.boolean(),
    notes: z.array(z.string()),
    checked_at: z.string().openapi({ format: "date-time" }),
  })
  .openapi("DnsCheckReport");

const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v])
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");

export function registerDnsCheckRoutes(app: ApiApp, state: AppState): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/dns-check",
      tags: ["system"],
      summary: "Deliverability check: MX, A/AAAA, PTR, SPF, DKIM, DMARC, MTA-STS, TLS-RPT",
      description:
        "Each check is ok, missing, wrong or error, with the zone-file records to publish. " +
        "Same as `posteix check --dns --json`.",
      request: { query: DnsCheckQuery },
      responses: { 200: json(DnsCheckResponse, "The report"), ...errors(400, 401) },
    }),
    async (c) => {
      const q = c.req.valid("query");
      try {
        const report = await checkDeliverability(state.ctx.config(), {
          domains: list(q.domain),
          addresses: list(q.address),
          fetchPolicy: q.fetch_policy !== "false",
          source: "request",
        });
        return c.json(report, 200);
      } catch (err) {
        if (err instanceof DnsCheckInputError) throw badRequest(err.message);
        throw err;
      }
    },
  );
}
