/**
 * The server certificate and protocol range of one process, swapped on reload: certbot renews
 * the files, `posteix reload` (SIGHUP) calls reload(), and the next connection gets the new
 * certificate while sessions in flight keep theirs.
 */
import type { TLSOptions } from "bun";
import type { Config } from "../config/types.ts";
import { TlsProtocolError, type TlsProtocolRange, tlsProtocols } from "./protocols.ts";
import { type LoadTlsOptions, loadServerTls, type ServerTls } from "./server-cert.ts";
import { serverTlsOptions } from "./upgrade.ts";

export class TlsManager {
  #tls: ServerTls;
  #protocols: TlsProtocolRange;
  #options: TLSOptions;

  private constructor(tls: ServerTls, protocols: TlsProtocolRange) {
    this.#tls = tls;
    this.#protocols = protocols;
    this.#options = serverTlsOptions(tls, protocols);
  }

  /** Loads (or generates) the certificate; throws TlsConfigError / TlsProtocolError. */
  static async create(cfg: Config, opts?: LoadTlsOptions): Promise<TlsManager> {
    checkClientProtocols(cfg);
    const protocols = tlsProtocols(cfg.list("smtpd_tls_protocols"));
    return new TlsManager(await loadServerTls(cfg, opts), protocols);
  }

  get current(): ServerTls {
    return this.#tls;
  }

  get protocols(): TlsProtocolRange {
    return this.#protocols;
  }

  /** Options for Bun.listen({ tls }) or upgradeServerSocket({ tls }), for the next connection. */
  get options(): TLSOptions {
    return this.#options;
  }

  /**
   * Reads the files again. Returns whether the certificate, key or protocol range changed. On
   * error the old certificate stays in use and the error is thrown to the caller to log.
   */
  async reload(cfg: Config, opts?: LoadTlsOptions): Promise<boolean> {
    checkClientProtocols(cfg);
    const protocols = tlsProtocols(cfg.list("smtpd_tls_protocols"));
    const tls = await loadServerTls(cfg, opts);
    const changed =
      tls.cert !== this.#tls.cert ||
      tls.key !== this.#tls.key ||
      (tls.chain ?? "") !== (this.#tls.chain ?? "") ||
      protocols.secureOptions !== this.#protocols.secureOptions;
    if (changed) {
      this.#tls = tls;
      this.#protocols = protocols;
      this.#options = serverTlsOptions(tls, protocols);
    }
    return changed;
  }
}

/** $smtp_tls_protocols is the smtp client's, but a mistake in it is reported here, at start. */
function checkClientProtocols(cfg: Config): void {
  try {
    tlsProtocols(cfg.list("smtp_tls_protocols"));
  } catch (err) {
    if (err instanceof TlsProtocolError)
      throw new TlsProtocolError(`smtp_tls_protocols: ${err.message}`);
    throw err;
  }
}
