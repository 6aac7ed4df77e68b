/**
 * The zod schemas of every request and response: the routes validate with them and the
 * OpenAPI 3.1 document at /api/v1/openapi.json is generated from them, so the two can't drift.
 * Field names are snake_case; times are ISO 8601 strings (UTC).
 */
import { z } from "@hono/zod-openapi";
import { QUEUE_STATES } from "../queue/types.ts";

const STATE_NAMES = QUEUE_STATES.join("|");

/** Event names of /events and webhooks (the queue's event kinds worth telling about). */
export const EVENT_NAMES = [
  "received",
  "sent",
  "deferred",
  "bounced",
  "expired",
  "held",
  "released",
  "deleted",
  "requeued",
  "delayed",
  "removed",
  "corrupt",
] as const;
export type EventName = (typeof EVENT_NAMES)[number];

export const QueueStateSchema = z.enum(QUEUE_STATES as [string, ...string[]]).openapi("QueueState");

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "not_found" }),
      message: z.string().openapi({ example: "1A2B3C4D5E: no such message" }),
    }),
  })
  .openapi("Error");

export const QueueIdParam = z.object({
  id: z
    .string()
    .regex(/^[0-9A-Fa-f]{6,20}$/, "not a queue ID")
    .openapi({ param: { name: "id", in: "path" }, example: "3F2A9C01B7" }),
});

export const RecipientSchema = z
  .object({
    address: z.string(),
    status: z.enum(["pending", "sent", "deferred", "bounced", "expired"]),
    dsn: z.string().nullable().openapi({ example: "4.4.1" }),
    diagnostic: z.string().nullable(),
  })
  .openapi("Recipient");

export const MessageSchema = z
  .object({
    id: z.string().openapi({ example: "3F2A9C01B7" }),
    state: QueueStateSchema,
    sender: z.string().openapi({ description: '"" is the null sender <>' }),
    size: z.number().int().openapi({ description: "bytes as queued, headers included" }),
    arrival_time: z.string().openapi({ format: "date-time" }),
    next_attempt: z.string().nullable().openapi({ format: "date-time" }),
    attempts: z.number().int(),
    reason: z.string().nullable().openapi({ description: "last deferral or hold reason" }),
    recipients: z.array(RecipientSchema),
  })
  .openapi("Message");

export const EventSchema = z
  .object({
    seq: z.number().int().openapi({ description: "increases strictly; the SSE id" }),
    event: z.string().openapi({ example: "sent" }),
    queue_id: z.string(),
    time: z.string().openapi({ format: "date-time" }),
    detail: z.record(z.string(), z.unknown()),
  })
  .openapi("Event");

export const MessageDetailSchema = MessageSchema.extend({
  message_id: z.string().nullable(),
  origin: z.string().openapi({ description: "smtpd, sendmail, api or bounce" }),
  client: z
    .object({
      name: z.string(),
      addr: z.string(),
      helo: z.string().optional(),
      protocol: z.string(),
      sasl_user: z.string().optional(),
    })
    .nullable(),
  envid: z.string().nullable(),
  ret: z.enum(["FULL", "HDRS"]).nullable(),
  body_type: z.string().nullable(),
  smtputf8: z.boolean(),
  warned_at: z.string().nullable().openapi({ format: "date-time" }),
  recipients: z.array(
    RecipientSchema.extend({
      original: z.string().nullable(),
      orcpt: z.string().nullable(),
      notify: z.array(z.string()),
      relay: z.string().nullable(),
      updated_at: z.string().nullable().openapi({ format: "date-time" }),
    }),
  ),
  headers: z.array(z.object({ name: z.string(), value: z.string() })),
  history: z.array(EventSchema),
}).openapi("MessageDetail");

const stateList = z
  .string()
  .regex(new RegExp(`^(${STATE_NAMES})(,(${STATE_NAMES}))*$`), `states: ${QUEUE_STATES.join(", ")}`)
  .openapi({ description: "a state or a comma-separated list", example: "deferred,hold" });

const olderThan = z
  .string()
  .regex(
    /^(\d+[smhdw]?|\d{4}-\d\d-\d\d([T ][0-9:.]+(Z|[+-]\d\d:?\d\d)?)?)$/,
    'a duration ("3600", "90m", "2h", "3d", "1w") or an ISO 8601 date',
  )
  .openapi({
    description:
      "arrived more than this long ago (seconds, or with unit s/m/h/d/w), or before this ISO 8601 date",
    example: "2h",
  });

/** The selection shared by the list and the bulk operations, as query parameters. */
export const FilterQuery = z.object({
  state: stateList.optional(),
  sender: z.string().optional().openapi({ description: "substring, case-insensitive" }),
  recipient: z.string().optional().openapi({ description: "substring, case-insensitive" }),
  domain: z.string().optional().openapi({ description: "recipient domain, exact" }),
  older_than: olderThan.optional(),
});

export const ListQuery = FilterQuery.extend({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().optional().openapi({ description: "next_cursor of the previous page" }),
});

export const ListResponse = z
  .object({
    messages: z.array(MessageSchema),
    next_cursor: z.string().nullable().openapi({ description: "null on the last page" }),
  })
  .openapi("MessageList");

export const BulkQuery = FilterQuery.extend({
  ids: z.string().optional().openapi({ description: "comma-separated queue IDs" }),
  all: z.enum(["true", "false"]).optional().openapi({
    description: "bulk delete: required to delete with an empty filter",
  }),
});

export const BulkBody = z
  .object({
    state: z.union([QueueStateSchema, z.array(QueueStateSchema)]).optional(),
    sender: z.string().optional(),
    recipient: z.string().optional(),
    domain: z.string().optional(),
    older_than: z.union([olderThan, z.number().int().nonnegative()]).optional(),
    ids: z.array(z.string().regex(/^[0-9A-Fa-f]{6,20}$/, "not a queue ID")).optional(),
    all: z.boolean().optional(),
  })
  .openapi("Filter");

export const AffectedResponse = z.object({ affected: z.number().int() }).openapi("Affected");

export const FlushQuery = z.object({
  site: z.string().optional().openapi({ description: "only mail for this domain (postqueue -s)" }),
});
export const FlushBody = z.object({ site: z.string().optional() });

const Count = z.object({ count: z.number().int(), bytes: z.number().int() });
export const SummaryResponse = z
  .object({
    states: z.record(z.string(), Count).openapi({ description: "one entry per queue state" }),
    total: Count,
  })
  .openapi("QueueSummary");

const addressList = z.union([z.string(), z.array(z.string())]);

export const InjectJson = z
  .object({
    from: z.string().min(1).openapi({ example: "App <app@example.com>" }),
    to: addressList.optional(),
    cc: addressList.optional(),
    bcc: addressList.optional(),
    reply_to: addressList.optional(),
    subject: z.string().optional(),
    text: z.string().optional(),
    html: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    attachments: z
      .array(
        z.object({
          filename: z.string().min(1),
          content_type: z.string().optional(),
          content_base64: z.string().regex(/^[A-Za-z0-9+/=\r\n]*$/, "not base64"),
        }),
      )
      .optional(),
  })
  .refine((m) => m.to !== undefined || m.cc !== undefined || m.bcc !== undefined, {
    message: "at least one of to, cc, bcc is required",
    path: ["to"],
  })
  .openapi("ComposedMessage");

export const InjectQuery = z.object({
  from: z
    .string()
    .optional()
    .openapi({ description: 'message/rfc822: envelope sender ("" or "<>" for the null sender)' }),
  to: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .openapi({ description: "message/rfc822: envelope recipients (repeat, or comma-separated)" }),
});

export const InjectHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
    .optional()
    .openapi({ description: "a retry with the same key returns the first message's id" }),
});

export const InjectResponse = z
  .object({
    id: z.string(),
    status: z.enum(["queued", "held", "discarded"]),
  })
  .openapi("Injected");

export const EventsQuery = z.object({
  since: z.coerce.number().int().nonnegative().optional().openapi({
    description: "replay events after this seq (Last-Event-ID takes precedence)",
  }),
  events: z
    .string()
    .regex(new RegExp(`^(${EVENT_NAMES.join("|")})(,(${EVENT_NAMES.join("|")}))*$`))
    .optional()
    .openapi({ description: "comma-separated event names to receive (default: all)" }),
});

export const StatsResponse = z
  .object({
    started_at: z.string().openapi({ format: "date-time" }),
    uptime_seconds: z.number(),
    counters: z.record(z.string(), z.number()),
    series: z.object({
      start: z.string().openapi({ format: "date-time", description: "the oldest minute" }),
      interval_seconds: z.number().int(),
      values: z.record(z.string(), z.array(z.number())).openapi({
        description: "per counter, 60 per-minute values, oldest first",
      }),
    }),
    delivery_latency: z.object({
      count: z.number().int(),
      sum_seconds: z.number(),
      buckets: z.array(z.object({ le: z.string(), count: z.number().int() })),
    }),
    queue: SummaryResponse,
    scheduler: z.record(z.string(), z.number()).optional(),
  })
  .openapi("Stats");

export const HealthResponse = z.object({ status: z.literal("ok") }).openapi("Health");
export const ReloadResponse = z.object({ reloaded: z.boolean() }).openapi("Reload");
