/**
 * The SMTP verbs: one function per verb, each returning its reply, and the table the session
 * dispatches from. Texts follow Postfix's smtpd where it has them.
 *
 * RFC 5321 (EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY, HELP), RFC 1985 (ETRN),
 * RFC 3030 (BDAT), RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 2920 (which verbs end a
 * pipelined group), RFC 1870 / 6152 / 3461 / 6531 (MAIL and RCPT parameters, params.ts).
 */
import type { CleanupInput } from "../cleanup/types.ts";
import { logger } from "../log/index.ts";
import type { NewRecipient } from "../queue/types.ts";
import { AddressError, isIPv4, isIPv6, isNonAscii, parsePath } from "../rewrite/address.ts";
import { logHandshakeFailure } from "../tls/upgrade.ts";
import { type ParamFeatures, parseMailParams, parseRcptParams } from "./params.ts";
import { type Reply, SmtpError } from "./reply.ts";
import { validHostname } from "./restrictions.ts";
import type { SmtpSession } from "./session.ts";
import { Transaction } from "./transaction.ts";

const log = logger("smtpd");

export interface Command {
  /** The verb, upper case; its lower case is its name in the session statistics. */
  readonly name: string;
  /** Allowed before STARTTLS when TLS is required ($smtpd_tls_security_level = encrypt). */
  readonly preTls?: boolean;
  /** Ends a pipelined command group (RFC 2920 3.1): nothing may follow before its reply. */
  readonly last?: boolean;
  /** Counts toward $smtpd_junk_command_limit. */
  readonly junk?: boolean;
  /** Refused before HELO/EHLO when $smtpd_helo_required. */
  readonly needsHelo?: boolean;
  /** The verb: its reply, or null when the reply comes later (BDAT, after its chunk). */
  readonly run: (s: SmtpSession, args: string) => Reply | null | Promise<Reply | null>;
}

/** A BDAT chunk being read. */
export interface BdatChunk {
  size: number;
  last: boolean;
  /** The reply for a chunk that is read and dropped; null when the chunk is content. */
  skip: Reply | null;
  /** Hang up after that reply (more content than the size limit can excuse). */
  hangup: boolean;
}

const r = (code: number, enhanced: string | undefined, text: string): Reply =>
  enhanced === undefined ? { code, text } : { code, enhanced, text };

function features(s: SmtpSession): ParamFeatures {
  const st = s.settings;
  return { dsn: st.dsn, smtputf8: st.smtputf8, binarymime: st.binarymime };
}

/** RFC 5321 4.1.4: a new EHLO/HELO, RSET or STARTTLS resets the transaction. */
export function resetTransaction(s: SmtpSession): void {
  s.tx?.abort();
  s.tx = null;
  s.restrictions.resetTransaction();
}

// ---------------------------------------------------------------------- HELO / EHLO

/** Postfix's printable() and neuter(): the name goes into logs and headers. */
function cleanHelo(name: string): string {
  return name.replace(/[^\x21-\x7e]|[<>()\\";@]/g, "?");
}

async function helloCommon(s: SmtpSession, args: string, verb: string): Promise<Reply | string> {
  if (args === "") return r(501, undefined, `Syntax: ${verb} hostname`);
  const name = cleanHelo(args.replace(/[ \t]+/g, " "));
  if (!s.standalone && !s.settings.delayReject) {
    const err = await s.restrictions.helo(name);
    if (err) return err;
  }
  resetTransaction(s);
  s.helo = name;
  return name;
}

async function ehlo(s: SmtpSession, args: string): Promise<Reply> {
  const h = await helloCommon(s, args, "EHLO");
  if (typeof h !== "string") return h;
  s.ehlo = true;
  const st = s.settings;
  const off = st.discardEhlo;
  const lines = [s.hostname];
  const add = (kw: string, text = kw) => {
    if (!off.has(kw.toLowerCase())) lines.push(text);
  };
  add("PIPELINING");
  add("SIZE", st.messageSizeLimit > 0 ? `SIZE ${st.messageSizeLimit}` : "SIZE");
  if (st.vrfyEnabled) add("VRFY");
  add("ETRN");
  if (tlsOffered(s)) add("STARTTLS");
  const mechs = authMechanisms(s);
  if (mechs.length > 0) add("AUTH", `AUTH ${mechs.join(" ")}`);
  add("ENHANCEDSTATUSCODES");
  add("8BITMIME");
  if (st.dsn) add("DSN");
  if (st.smtputf8) add("SMTPUTF8");
  if (st.chunking) add("CHUNKING");
  if (st.binarymime) add("BINARYMIME");
  return { code: 250, text: lines };
}

async function helo(s: SmtpSession, args: string): Promise<Reply> {
  const h = await helloCommon(s, args, "HELO");
  if (typeof h !== "string") return h;
  s.ehlo = false;
  return r(250, undefined, s.hostname);
}

// ---------------------------------------------------------------------- MAIL / RCPT

async function mail(s: SmtpSession, args: string): Promise<Reply> {
  const st = s.settings;
  if (s.tx) return r(503, "5.5.1", "Error: nested MAIL command");
  const m = /^FROM:/i.exec(args);
  if (!m) return r(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  if (!s.standalone && st.messageRateLimit > 0 && !exempt(s)) {
    const rate = s.ctx.anvil.message(s.service, s.client.addr, st.rateUnitMs);
    if (rate > st.messageRateLimit) {
      log.warn(
        `Message delivery request rate limit exceeded: ${rate} from ${s.namaddr} for service ${s.service}`,
      );
      return r(450, "4.7.1", `Error: too much mail from ${s.client.addr}`);
    }
  }
  let path: ReturnType<typeof parsePath>;
  try {
    path = parsePath(args.slice(m[0].length), {
      utf8: true,
      strict: st.strictEnvelopes,
      allowNull: true,
    });
  } catch (err) {
    if (err instanceof AddressError) return r(501, "5.1.7", "Bad sender address syntax");
    throw err;
  }
  const f = features(s);
  const params = parseMailParams(path.params, f);
  if (st.messageSizeLimit > 0 && params.size !== undefined && params.size > st.messageSizeLimit) {
    const reply = r(552, "5.3.4", "Message size exceeds fixed limit");
    s.restrictions.logWhatsup("reject", "552 5.3.4 Message size exceeds fixed limit", path.address);
    return reply;
  }
  s.restrictions.resetTransaction();
  if (!s.standalone && !st.delayReject) {
    const err = await s.restrictions.mail(path.address);
    if (err) return err;
  }
  // RFC 6531 3.4: a non-ASCII address needs SMTPUTF8 on MAIL FROM.
  if (!params.smtputf8 && isNonAscii(path.address))
    return r(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
  s.tx = new Transaction(path.address, params, st.messageSizeLimit);
  return r(250, "2.1.0", "Ok");
}

async function rcpt(s: SmtpSession, args: string): Promise<Reply> {
  const st = s.settings;
  const tx = s.tx;
  if (!tx) return r(503, "5.5.1", "Error: need MAIL command");
  if (tx.started) return r(503, "5.5.1", "Error: RCPT after BDAT");
  const m = /^TO:/i.exec(args);
  if (!m) return r(501, "5.5.4", "Syntax: RCPT TO:<address>");
  if (!s.standalone && st.recipientRateLimit > 0 && !exempt(s)) {
    const rate = s.ctx.anvil.recipient(s.service, s.client.addr, st.rateUnitMs);
    if (rate > st.recipientRateLimit) {
      log.warn(
        `Recipient address rate limit exceeded: ${rate} from ${s.namaddr} for service ${s.service}`,
      );
      return r(450, "4.7.1", `Error: too many recipients from ${s.client.addr}`);
    }
  }
  let path: ReturnType<typeof parsePath>;
  try {
    path = parsePath(args.slice(m[0].length), {
      utf8: true,
      strict: st.strictEnvelopes,
      allowNull: false,
    });
  } catch (err) {
    if (err instanceof AddressError) return r(501, "5.1.3", "Bad recipient address syntax");
    throw err;
  }
  const params = parseRcptParams(path.params, features(s));
  if (st.recipientLimit > 0 && tx.rcptCount >= st.recipientLimit) {
    // Postfix: the first $smtpd_recipient_overshoot_limit of these are not client errors.
    const success = tx.overshoot++ < st.recipientOvershootLimit;
    return { code: 452, enhanced: "4.5.3", text: "Error: too many recipients", success };
  }
  if (!tx.params.smtputf8 && isNonAscii(path.address))
    return r(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
  if (!s.standalone) {
    const err = await s.restrictions.rcpt(path.address);
    if (err) return err;
  }
  if (!tx.cleanup) {
    const input = cleanupInput(s, tx);
    tx.open(() => s.ctx.newCleanup(input), input);
    const sasl = s.saslUser ? `, sasl_method=${s.saslMethod}, sasl_username=${s.saslUser}` : "";
    log.info(`${tx.queueId}: client=${s.namaddr}${sasl}`);
  }
  const rec: NewRecipient = { address: path.address };
  if (params.orcpt !== undefined) rec.orcpt = params.orcpt;
  if (params.notify !== undefined) rec.notify = params.notify;
  tx.addRecipient(rec);
  return r(250, "2.1.5", "Ok");
}

function cleanupInput(s: SmtpSession, tx: Transaction): CleanupInput {
  const a = s.restrictions.actions;
  const p = tx.params;
  const input: CleanupInput = {
    sender: tx.sender,
    origin: "smtpd",
    client: {
      name: s.client.name,
      addr: s.client.addr,
      helo: s.helo ?? undefined,
      protocol: s.protocol,
      saslUser: s.saslUser ?? undefined,
    },
    trusted: s.saslUser !== null || s.settings.mynetworks.matches(s.client.addr, s.client.name),
    protocol: receivedProtocol(s),
  };
  if (p.envid !== undefined) input.envid = p.envid;
  if (p.ret !== undefined) input.ret = p.ret;
  if (p.body !== undefined) input.bodyType = p.body;
  if (p.smtputf8) input.smtputf8 = true;
  if (s.tls) input.tls = s.tls;
  if (a.hold !== undefined) input.hold = a.hold;
  if (a.discard !== undefined) input.discard = a.discard;
  return input;
}

/** RFC 3848 "with" protocol: ESMTP, ESMTPS (TLS), ESMTPA / ESMTPSA (AUTH). */
function receivedProtocol(s: SmtpSession): string {
  if (!s.ehlo) return "SMTP";
  return `ESMTP${s.tls ? "S" : ""}${s.saslUser ? "A" : ""}`;
}

function exempt(s: SmtpSession): boolean {
  return s.settings.eventLimitExceptions.matches(s.client.addr, s.client.name);
}

// ---------------------------------------------------------------------- DATA / BDAT

async function data(s: SmtpSession, args: string): Promise<Reply> {
  const tx = s.tx;
  if (tx?.started) return r(503, "5.5.1", "Error: DATA after BDAT");
  if (!tx || tx.rcptCount === 0) {
    // With pipelining the client sends DATA before it knows every RCPT failed: no error then.
    return tx
      ? r(554, "5.5.1", "Error: no valid recipients")
      : r(503, "5.5.1", "Error: need RCPT command");
  }
  if (args !== "") return r(501, "5.5.4", "Syntax: DATA");
  // RFC 3030 3: BINARYMIME content can only be sent with BDAT.
  if (tx.params.body === "BINARYMIME")
    return r(503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT");
  if (!s.standalone) {
    const err = await s.restrictions.data();
    if (err) return err;
  }
  tx.begin(s.restrictions.actions);
  s.reader.startData();
  s.where = "DATA content";
  return r(354, undefined, "End data with <CR><LF>.<CR><LF>");
}

/** After <CRLF>.<CRLF>. */
export async function dataEnd(s: SmtpSession): Promise<Reply> {
  return finishMessage(s, false);
}

async function finishMessage(s: SmtpSession, bdat: boolean): Promise<Reply> {
  const tx = s.tx;
  s.where = "END-OF-MESSAGE";
  if (!tx) return r(451, "4.3.0", "Error: internal error");
  let reply: Reply;
  const err = !s.standalone && !tx.tooBig ? await s.restrictions.eod() : null;
  if (err) {
    tx.abort();
    reply = err;
  } else {
    reply = await tx.finish(s.restrictions.actions, bdat);
  }
  if (reply.code < 400) {
    // Postfix forgives earlier client errors once a message got through.
    s.errors = 0;
    s.junk = 0;
  }
  s.tx = null;
  s.restrictions.resetTransaction();
  return reply;
}

async function bdat(s: SmtpSession, args: string): Promise<Reply | null> {
  const st = s.settings;
  if (!st.chunking) {
    // The next input would be raw content: hang up instead of reading it as commands.
    return { code: 521, enhanced: "5.5.1", text: "Error: command not implemented", close: true };
  }
  const m = /^(\d{1,18})(?:[ \t]+(LAST))?$/i.exec(args);
  if (!m) {
    log.warn(
      `${s.queueId ?? "NOQUEUE"}: malformed BDAT command syntax from ${s.namaddr}: ${args.slice(0, 100)}`,
    );
    return { code: 521, enhanced: "5.5.4", text: "Syntax: BDAT count [LAST]", close: true };
  }
  const size = Number(m[1]);
  const chunk: BdatChunk = { size, last: m[2] !== undefined, skip: null, hangup: false };
  const tx = s.tx;
  const limit = st.messageSizeLimit;
  // A refused chunk is still read (and dropped) to stay in step with the client (RFC 3030 2).
  const skip = (reply: Reply): null => {
    chunk.skip = reply;
    const sofar = tx?.size ?? 0;
    if (limit > 0 && sofar + size > limit * 1.5) {
      // Not worth reading: Postfix stops reading from such a client.
      log.warn(
        `${s.queueId ?? "NOQUEUE"}: too much BDAT content -- disabling further input from ${s.namaddr}`,
      );
      chunk.hangup = true;
    }
    if (tx) tx.size += size;
    startChunk(s, chunk);
    return null;
  };
  if (size === 0 && !chunk.last) {
    log.warn(`${s.queueId ?? "NOQUEUE"}: null BDAT request from ${s.namaddr}`);
    return skip(r(551, "5.7.1", "Null BDAT request"));
  }
  if (tx?.bdatFailed) return skip(r(551, "5.0.0", `Discarded ${size} bytes after earlier error`));
  if (!tx || tx.rcptCount === 0) {
    // Pipelined after RCPTs that all failed: not a protocol error then.
    return skip(
      tx
        ? r(554, "5.5.1", "Error: no valid recipients")
        : r(503, "5.5.1", "Error: need RCPT command"),
    );
  }
  if (!tx.started) {
    // The first chunk is the DATA command of restrictions.
    if (!s.standalone) {
      const err = await s.restrictions.data();
      if (err) return skip(err);
    }
    tx.begin(s.restrictions.actions);
  }
  if (limit > 0 && tx.size + size > limit) {
    log.warn(
      `${s.queueId ?? "NOQUEUE"}: BDAT request from ${s.namaddr} exceeds message size limit`,
    );
    return skip(r(552, "5.3.4", "Chunk exceeds message size limit"));
  }
  startChunk(s, chunk);
  return null;
}

function startChunk(s: SmtpSession, chunk: BdatChunk): void {
  const tx = s.tx;
  s.bdat = chunk;
  s.where = "BDAT content";
  const first = !tx || tx.bdatChunks === 0;
  if (tx) tx.bdatChunks++;
  s.reader.startBdat(chunk.size, { first, detectBare: tx?.params.body !== "BINARYMIME" });
}

/** After the bytes of one BDAT chunk were read. */
export async function bdatEnd(s: SmtpSession, chunk: BdatChunk): Promise<Reply> {
  const tx = s.tx;
  if (chunk.skip) {
    const reply: Reply = chunk.hangup ? { ...chunk.skip, close: true } : chunk.skip;
    if (chunk.last) {
      // RFC 3030: LAST ends the transaction, failed or not.
      tx?.abort();
      s.tx = null;
      s.restrictions.resetTransaction();
    } else if (tx) {
      if (tx.started) tx.abort();
      tx.bdatFailed = true;
    }
    return reply;
  }
  if (!tx) return r(451, "4.3.0", "Error: internal error");
  if (chunk.last) return finishMessage(s, true);
  return r(250, "2.0.0", `Ok: ${chunk.size} bytes`);
}

// ---------------------------------------------------------------------- the rest

function rset(s: SmtpSession, args: string): Reply {
  if (args !== "") return r(501, "5.5.4", "Syntax: RSET");
  resetTransaction(s);
  return r(250, "2.0.0", "Ok");
}

function noop(): Reply {
  return r(250, "2.0.0", "Ok");
}

function quit(s: SmtpSession): Reply {
  resetTransaction(s);
  return { code: 221, enhanced: "2.0.0", text: "Bye", close: true };
}

async function vrfy(s: SmtpSession, args: string): Promise<Reply> {
  const st = s.settings;
  if (!st.vrfyEnabled) return r(502, "5.5.1", "VRFY command is disabled");
  let arg = args;
  let smtputf8 = false;
  const m = /^(.*?)[ \t]+SMTPUTF8$/i.exec(arg);
  if (st.smtputf8 && m) {
    arg = m[1];
    smtputf8 = true;
  }
  if (arg === "") return r(501, "5.5.4", `Syntax: VRFY address${st.smtputf8 ? " [SMTPUTF8]" : ""}`);
  if (!s.standalone && st.recipientRateLimit > 0 && !exempt(s)) {
    const rate = s.ctx.anvil.recipient(s.service, s.client.addr, st.rateUnitMs);
    if (rate > st.recipientRateLimit)
      return r(450, "4.7.1", `Error: too many recipients from ${s.client.addr}`);
  }
  let address: string;
  try {
    address = parsePath(arg, { utf8: true, strict: false, allowNull: false }).address;
  } catch {
    return r(501, "5.1.3", "Bad recipient address syntax");
  }
  if (!smtputf8 && isNonAscii(address))
    return r(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
  if (!s.standalone) {
    const err = await s.restrictions.rcpt(address);
    if (err) return err;
  }
  // RFC 5321 3.5.3: 252, cannot verify but will try; the text is what the client sent.
  return r(252, "2.0.0", arg);
}

function help(s: SmtpSession): Reply {
  const names = [...COMMANDS.keys()].filter((n) => {
    if (n === "STARTTLS") return !!s.ctx.tls && s.settings.tlsLevel !== "none";
    if (n === "AUTH") return !!s.ctx.auth && s.settings.saslEnabled;
    return true;
  });
  return r(214, "2.0.0", `Commands: ${names.sort().join(" ")}`);
}

async function etrn(s: SmtpSession, args: string): Promise<Reply> {
  // RFC 1985 replies carry no enhanced status codes in Postfix; neither do ours.
  if (s.tx) return r(503, undefined, "Error: MAIL transaction in progress");
  const words = args.split(/[ \t]+/).filter((w) => w !== "");
  if (words.length !== 1) return r(500, undefined, "Syntax: ETRN domain");
  let domain = words[0];
  if (domain.startsWith("@") || domain.startsWith("#")) domain = domain.slice(1);
  const literal = /^\[(.*)\]$/.exec(domain);
  const ok = literal
    ? isIPv4(literal[1]) ||
      (literal[1].toLowerCase().startsWith("ipv6:") && isIPv6(literal[1].slice(5)))
    : validHostname(domain);
  if (!ok) return r(501, undefined, "Error: invalid parameter syntax");
  if (s.standalone) {
    log.warn(`do not use ETRN in "sendmail -bs" mode`);
    return r(458, undefined, "Unable to queue messages");
  }
  const err = await s.restrictions.etrn(domain);
  if (err) return err;
  if (!s.ctx.flush) return r(458, undefined, "Unable to queue messages");
  const queued = await s.ctx.flush(domain);
  if (!queued) {
    log.warn(`reject: ETRN ${domain.slice(0, 100)}... from ${s.namaddr}`);
    return r(459, undefined, `<${domain}>: service unavailable`);
  }
  return r(250, undefined, "Queuing started");
}

// ---------------------------------------------------------------------- STARTTLS / AUTH seams

/**
 * STARTTLS is announced and accepted when the seam and the transport can do it, the session is
 * not encrypted yet, and $smtpd_tls_security_level is not none.
 */
function tlsOffered(s: SmtpSession): boolean {
  const t = s.ctx.tls;
  if (!t || !s.transport.startTls || s.tls || s.standalone) return false;
  return s.settings.tlsLevel !== "none" && t.offer(s);
}

async function starttls(s: SmtpSession, args: string): Promise<Reply | null> {
  if (args !== "") return r(501, "5.5.4", "Syntax: STARTTLS");
  if (s.tls) return r(554, "5.5.1", "Error: TLS already active");
  const startTls = s.transport.startTls;
  if (!startTls || !tlsOffered(s)) return r(502, "5.5.1", "Error: command not implemented");
  await s.send(r(220, "2.0.0", "Ready to start TLS"));
  // The 220 must be on the wire before the handshake starts.
  s.flush();
  // RFC 3207 4.2: anything the client sent before the handshake is discarded (the STARTTLS
  // command injection attack pipelines plaintext commands after STARTTLS).
  s.reader.discard();
  let info: Awaited<ReturnType<typeof startTls>>;
  try {
    info = await startTls.call(s.transport);
  } catch (err) {
    logHandshakeFailure(s.namaddr, err);
    return {
      code: 421,
      enhanced: "4.7.0",
      text: `${s.hostname} Error: TLS handshake failed`,
      close: true,
      success: true,
    };
  }
  // Plaintext that arrives during the handshake never gets here (src/tls/upgrade.ts), and what
  // the TLS socket delivers from now on is the client's first command under TLS: keep it.
  s.tlsEstablished(info);
  // RFC 3207 4.2: forget everything learned before TLS; the client must EHLO again.
  resetTransaction(s);
  s.helo = null;
  s.ehlo = false;
  return null;
}

/**
 * Mechanisms to announce: only with $smtpd_sasl_auth_enable on this service and, with
 * $smtpd_tls_auth_only, inside TLS (Postfix's smtpd_sasl_is_active()).
 */
function authMechanisms(s: SmtpSession): string[] {
  const a = s.ctx.auth;
  const st = s.settings;
  if (!a || s.standalone || s.saslUser || !st.saslEnabled) return [];
  if (st.tlsAuthOnly && !s.tls) return [];
  return a.mechanisms(s);
}

async function auth(s: SmtpSession, args: string): Promise<Reply> {
  const a = s.ctx.auth;
  if (!a) return r(502, "5.5.1", "Error: command not implemented");
  if (s.saslUser) return r(503, "5.5.1", "Error: already authenticated");
  const mechs = authMechanisms(s);
  if (mechs.length === 0) return r(503, "5.5.1", "Error: authentication not enabled");
  if (s.tx) return r(503, "5.5.1", "Error: MAIL transaction in progress");
  const m = /^(\S+)(?:[ \t]+(\S+))?$/.exec(args);
  if (!m) return r(501, "5.5.4", "Syntax: AUTH mechanism");
  const mechanism = m[1].toUpperCase();
  const result = await a.authenticate(s, mechanism, m[2], async (challenge) => {
    await s.send(r(334, undefined, challenge));
    const line = await s.readLine();
    if (line === null)
      throw new SmtpError(
        421,
        "4.4.2",
        "Error: AUTH exchange aborted",
        "lost connection during AUTH",
      );
    return line;
  });
  if (!result.ok) return result.reply;
  s.saslUser = result.user;
  s.saslMethod = result.method;
  return r(235, "2.7.0", "Authentication successful");
}

// ---------------------------------------------------------------------- the table

const TABLE: Command[] = [
  { name: "HELO", run: helo, preTls: true, last: true, junk: true },
  { name: "EHLO", run: ehlo, preTls: true, last: true, junk: true },
  { name: "STARTTLS", run: starttls, preTls: true },
  { name: "AUTH", run: auth },
  { name: "MAIL", run: mail, needsHelo: true },
  { name: "RCPT", run: rcpt },
  { name: "DATA", run: data, last: true },
  { name: "BDAT", run: bdat },
  { name: "RSET", run: rset, junk: true },
  { name: "NOOP", run: noop, preTls: true, last: true, junk: true },
  { name: "VRFY", run: vrfy, last: true, junk: true },
  { name: "ETRN", run: etrn, junk: true, needsHelo: true },
  { name: "QUIT", run: quit, preTls: true },
  { name: "HELP", run: help, preTls: true },
];

export const COMMANDS: ReadonlyMap<string, Command> = new Map(TABLE.map((c) => [c.name, c]));

/** Order of the "disconnect from ..." statistics (Postfix's command table order). */
export const STATS_ORDER: readonly string[] = [
  ...TABLE.map((c) => c.name.toLowerCase()),
  "unknown",
];
