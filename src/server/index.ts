/**
 * The OpenAI-compatible server: the public API of src/server/ (re-exported by src/index.ts). See docs/server.md.
 */
export { createServer, type FalconMambaServer, type ListenOptions, type Listening, type ServerOptions } from './app.ts';
export { ApiError, type ApiErrorBody } from './errors.ts';
export type { ServerTokenizer } from './protocol.ts';
