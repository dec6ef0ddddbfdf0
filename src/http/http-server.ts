import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/config.js';

/** Node's parser errors, which never reach Nest, as the status a client should see. */
const PARSER_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request URL or headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request not completed within the request timeout'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'Request headers not completed within the headers timeout'],
};

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/**
 * Limits of the HTTP server (a client that drips its headers or body, or opens endless connections, cannot
 * hold the service's sockets for Node's defaults of 60 s and 300 s), and JSON answers for the errors Node's
 * parser raises itself (URL or headers too large, a malformed header, a timeout), which Nest never sees.
 */
export function hardenHttpServer(server: Server, config: AppConfig, logger: Logger): void {
  server.headersTimeout = config.httpHeadersTimeoutMs;
  server.requestTimeout = config.httpRequestTimeoutMs;
  server.keepAliveTimeout = config.httpKeepAliveTimeoutMs;
  server.maxConnections = config.httpMaxConnections;
  // How often Node looks for requests past those timeouts (its default, 30 s, would let them run over).
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1000, config.httpHeadersTimeoutMs);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy(); // the client is gone: nobody to answer
      return;
    }
    const [status, message] = PARSER_ERRORS[error.code ?? ''] ?? [400, `Malformed HTTP request (${error.code ?? error.message})`];
    logger.info({ context: 'HTTP', status, code: error.code }, `rejected by the HTTP parser: ${status} ${message}`);
    const reason = STATUS_TEXT[status];
    const body = JSON.stringify({ statusCode: status, message, error: reason });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

/**
 * Stops accepting connections, lets the requests under way finish (at most `graceMs`), then closes what
 * is left. Idle keep-alive connections are closed at once, so clients reconnect to another instance.
 */
export async function closeHttpServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Connections that finish a request meanwhile become idle: close those too, until none is left.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
