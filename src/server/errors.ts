/**
 * The server's errors, in the OpenAI shape: `{ "error": { "message", "type", "param", "code" } }` with the
 * HTTP status the OpenAI API uses for each kind (400 invalid_request_error, 401 authentication, 404 not found,
 * 413 body too large, 429 queue full, 500 server_error). The `openai` client reads `error.message` and the
 * status; lm-evaluation-harness and chat UIs print `message`.
 */
import { FalconMambaError } from '../errors.ts';

/** The OpenAI error body. */
export interface ApiErrorBody {
  /** The error. */
  error: {
    /** What went wrong, in one line. */
    message: string;
    /** The OpenAI error type (`invalid_request_error`, `authentication_error`, `rate_limit_error`, `server_error`). */
    type: string;
    /** The request field at fault, or null. */
    param: string | null;
    /** A machine-readable code (`model_not_found`, `queue_full`, …), or null. */
    code: string | null;
  };
}

/** An error answered to the client: status and the OpenAI error fields. */
export class ApiError extends FalconMambaError {
  constructor(
    /** The HTTP status. */
    readonly status: number,
    message: string,
    /** The request field at fault (OpenAI `param`), or null. */
    readonly param: string | null = null,
    /** The OpenAI `type`. */
    readonly type: string = status >= 500 ? 'server_error' : status === 401 ? 'authentication_error' : 'invalid_request_error',
    /** The OpenAI `code` (e.g. `model_not_found`), or null. */
    readonly code: string | null = null,
    /** Seconds for a `Retry-After` header (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** The response body. */
  body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for a bad request field. */
export function badField(param: string, message: string): ApiError {
  return new ApiError(400, message, param);
}
