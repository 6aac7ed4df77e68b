/**
 * Failures of an SMTP/LMTP session, with the status and the Postfix wording that end up in the
 * recipients' results ("connect to host[addr]:port: Connection refused", "lost connection with
 * host[addr] while sending RCPT TO", "conversation with host[addr] timed out while ...").
 */

export type SessionFailureKind =
  /** No TCP connection (refused, unreachable, connect timeout). */
  | "connect"
  /** The server closed the connection or the socket failed. */
  | "lost"
  | "timeout"
  /** The server greeted or answered EHLO/HELO/LHLO with an error. */
  | "refused"
  /** STARTTLS failed or TLS is required and not possible. */
  | "tls"
  /** The server sent something that is not an SMTP reply. */
  | "protocol"
  /** posteix is stopping (the request's AbortSignal fired). */
  | "aborted";

export class SessionFailure extends Error {
  constructor(
    readonly kind: SessionFailureKind,
    readonly status: "deferred" | "bounced",
    readonly dsn: string,
    message: string,
  ) {
    super(message);
  }
}

/** strerror-style text of a socket error code, as Postfix prints it. */
export function socketErrorText(code: string | undefined, fallback: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "Connection refused";
    case "ETIMEDOUT":
      return "Connection timed out";
    case "EHOSTUNREACH":
      return "No route to host";
    case "ENETUNREACH":
      return "Network is unreachable";
    case "ECONNRESET":
      return "Connection reset by peer";
    case "ENOENT":
      return "No such file or directory";
    case "EACCES":
      return "Permission denied";
    case "EADDRNOTAVAIL":
      return "Cannot assign requested address";
    default:
      return fallback;
  }
}

/** What the client was doing, for "lost connection ... while %s" (Postfix's wording). */
export type Phase =
  | "greeting"
  | "ehlo"
  | "helo"
  | "lhlo"
  | "starttls"
  | "mail"
  | "rcpt"
  | "data"
  | "body"
  | "dot"
  | "rset"
  | "quit";

export const PHASE_TEXT: Record<Phase, string> = {
  greeting: "receiving the initial server greeting",
  ehlo: "performing the EHLO handshake",
  helo: "performing the HELO handshake",
  lhlo: "performing the LHLO handshake",
  starttls: "sending STARTTLS",
  mail: "sending MAIL FROM",
  rcpt: "sending RCPT TO",
  data: "sending DATA command",
  body: "sending message body",
  dot: "sending end of data -- message may be sent more than once",
  rset: "sending RSET",
  quit: "sending QUIT",
};

/** "(in reply to %s)" text of a reply to a command. */
export const IN_REPLY_TO: Partial<Record<Phase, string>> = {
  ehlo: "EHLO command",
  helo: "HELO command",
  lhlo: "LHLO command",
  starttls: "STARTTLS command",
  mail: "MAIL FROM command",
  rcpt: "RCPT TO command",
  data: "DATA command",
  dot: "end of DATA command",
  rset: "RSET command",
};
